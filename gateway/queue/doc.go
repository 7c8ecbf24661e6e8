// Package queue is the gateway's durable mail queue: it never loses a
// message it acknowledged, never keeps mail in plaintext on disk, and
// delivers to the next hop (SMTPDeliverer) with retries, bouncing what
// cannot be delivered.
//
// # On disk
//
// Options.Dir (0700) holds:
//
//	key-check          a sealed known text: a wrong Key is refused (ErrWrongKey)
//	                   before anything is touched
//	tmp/               staging: messages being written, metadata being replaced
//	msg/ID.data        a committed message, sealed
//	msg/ID.meta        its metadata, sealed JSON: envelope, size, created time,
//	                   attempts, next attempt time, and per recipient its state
//	                   (pending, delivered, failed; bounced) and last reply
//	quarantine/        files that could not be read (other key, damage); kept
//	                   for the operator, never deleted
//
// An ID is 28 hex digits: the arrival time in nanoseconds and 48 random
// bits. Every file (files 0600) is sealed the same way, like
// internal/spool's format but with a persistent key:
//
//	"SIGNETQ1" | kind (1 byte: D data, M metadata, K key check)
//	| nonce (12) | AES-256-GCM(Key, nonce, data key (32), ad) (48)
//	| chunk 0 | chunk 1 | … | final chunk
//
// Each file has its own random data key, wrapped by Options.Key. Each
// chunk is AES-256-GCM under the data key of up to 64 KiB of plaintext
// (+16 bytes of tag); its nonce is the chunk number (8 bytes, big-endian),
// three zero bytes, and 1 for the final chunk or 0 otherwise, so that
// reordered, truncated or extended files fail. The additional data of the
// key wrap and of every chunk is the magic, the kind and the message ID,
// so a file cannot be passed off as another message's or as another kind.
// Every chunk is authenticated before its bytes are used; a message read
// for delivery that fails authentication is quarantined and the partial
// transfer is abandoned without the final dot.
//
// # Durability
//
// Stage creates tmp/ID.data (O_EXCL) and Write seals into it. Commit
// seals the final chunk and fsyncs the data file; writes the metadata to
// tmp/ID.meta and fsyncs it; renames the data into msg/, then the
// metadata; and fsyncs msg/. Only then does it return the ID (and the
// SMTP server answer 250). So:
//
//   - A message exists exactly when msg/ID.meta exists. A crash before the
//     metadata rename leaves at most msg/ID.data without metadata, which
//     Open removes (its Commit never returned), and staging files, which
//     Open removes too.
//   - When Commit has returned, both renames and both files' contents are
//     on stable storage (file fsyncs, then the folder fsync), so a crash
//     after it loses nothing. If a metadata file's rename were ever
//     persisted without the data's (file systems that reorder directory
//     operations), Open finds metadata without data: that Commit had not
//     returned either, and the metadata is quarantined.
//   - No half-written message can be delivered: its metadata is renamed
//     only after the complete data is fsynced, and the final-chunk flag and
//     the chunk tags make any truncation or damage detected.
//   - Any write, sync or rename error in Stage, Write or Commit removes the
//     staged files and returns an error; ENOSPC and EDQUOT wrap ErrNoSpace
//     (the SMTP server answers 452), others are I/O errors (451). Stage
//     refuses new messages with ErrNoSpace while the file system has less
//     than Options.MinFree available.
//
// After each attempt the metadata is replaced atomically (write to tmp/,
// fsync, rename over msg/ID.meta, fsync msg/), and a recipient marked
// delivered is never delivered again. Delivery is at-least-once only for
// the window between the next hop's 250 and that metadata update (a
// crash there sends the message again to those recipients), and when the
// connection drops after the final dot before the reply (RFC 1047). A
// finished message's metadata is removed before its data. A DSN is
// committed (durably, like any message) before the failed recipients are
// marked bounced, so a crash between the two can send a DSN twice, never
// none.
//
// # Delivery
//
// Run delivers due messages with up to Options.Workers attempts at once
// and wakes at once on Commit. Temporary failures (4xx, or an error for the
// whole attempt) are retried after Options.Backoff (1m, 5m, 15m, 30m, 1h,
// then 2h); permanent failures (5xx) and recipients still pending after
// Options.MaxAge (5 days) are bounced: an RFC 3464 multipart/report DSN
// (human part, message/delivery-status, text/rfc822-headers of the
// original) is queued from the null sender to the original sender, on the
// sender's side: a local sender's bounce goes to gateway.HopDeliver, an
// external sender's to gateway.HopRelay (Options.LocalSender decides; by
// default a sender is local when the message was authenticated or goes to
// the relay). A bounce
// is never bounced: failures of a message from the null sender are logged
// and dropped.
//
// Messages from an SMTP client (Envelope.ClientAddr or ClientHelo set)
// get a Received header, written by Stage before the content.
package queue
