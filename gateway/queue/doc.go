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
//	msg/ID.msg         a committed message (format 2): its sealed data, then
//	                   its sealed metadata as committed, then a footer
//	msg/ID.meta        metadata written by a later attempt, when one left
//	                   recipients pending or failed; it supersedes the copy
//	                   in ID.msg
//	msg/ID.data        format 1 (written by earlier versions, still read): the
//	                   data, with the metadata in ID.meta
//	quarantine/        files that could not be read (other key, damage); kept
//	                   for the operator, never deleted
//
// The metadata is sealed JSON: version (1 or 2), envelope, size, created
// time, attempts, next attempt time, and per recipient its state
// (pending, delivered, failed; bounced) and last reply. An ID is 28 hex
// digits: the arrival time in nanoseconds and 48 random bits. Every file
// (files 0600), and each of the two sections of ID.msg, is sealed the
// same way, like internal/spool's format but with a persistent key:
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
// ID.msg is the sealed data (kind D), the sealed metadata (kind M) and a
// 24-byte footer: "SIGNETQ2", the data section's length and the metadata
// section's length (8 bytes each, big-endian). The footer is not
// authenticated; lengths that lie make a section fail to open (its final
// chunk is flagged) or the data's length disagree with the size in the
// metadata, and the message is quarantined.
//
// # Durability
//
// Stage creates tmp/ID.msg (O_EXCL) and Write seals the data into it.
// Commit seals the data's final chunk, appends the metadata and the
// footer, fsyncs the file, renames it into msg/, and waits for an fsync of
// msg/ that began after the rename. Only then does it return the ID (and
// the SMTP server answer 250). So:
//
//   - A message exists exactly when msg/ID.msg exists (or, format 1,
//     msg/ID.meta with msg/ID.data). A crash before the rename leaves only
//     a staging file, which Open removes: its Commit never returned.
//   - When Commit has returned, the file's content (fsync before the
//     rename) and its name in msg/ (the folder fsync after it) are on
//     stable storage, so a crash after it loses nothing. A renamed file
//     is complete, so no half-written message can be delivered, and the
//     final-chunk flag and the chunk tags detect any truncation or damage.
//   - Group commit: the folder fsync is shared. Concurrent Commits (and
//     metadata updates) join the batch waiting for the next fsync; one
//     fsync runs at a time, and a batch's fsync starts only once the
//     batch is closed, so it covers every rename made before its callers
//     joined, and each caller waits for an fsync that started after its
//     own rename. Under load one fsync of msg/ covers many messages. The
//     file fsyncs are each file's own (each must precede its rename).
//   - Any write, sync or rename error in Stage, Write or Commit removes the
//     staged file and returns an error; a failed folder fsync fails every
//     Commit of its batch, each removing its renamed file (it may or may
//     not have survived a crash, so it must not be acknowledged). ENOSPC
//     and EDQUOT wrap ErrNoSpace (the SMTP server answers 452), others are
//     I/O errors (451). Stage refuses new messages with ErrNoSpace while
//     the file system has less than Options.MinFree available.
//
// Per message, a Commit costs one file fsync and a share of a folder
// fsync; a message delivered to all its recipients at the first attempt
// costs nothing more. (Format 1 cost a data fsync, a metadata fsync and a
// folder fsync to commit, and a folder fsync to remove.)
//
// When an attempt leaves recipients pending (or failed, to be bounced),
// the metadata is written durably: to tmp/, fsync, rename to msg/ID.meta
// (over the previous one), shared fsync of msg/; a recipient marked
// delivered there is never delivered again. When every recipient is
// finished, the message is removed (ID.msg, then ID.meta; format 1:
// ID.meta, then ID.data) without an fsync: the acknowledgement it gave
// is not at stake, only the removal, and a crash that loses the removal
// makes Open find the message again and deliver it again (to the
// recipients still pending in its last durable metadata; to all of them
// if only ID.meta's removal was kept). Open removes an ID.meta left
// without its ID.msg when the metadata is format 2 (written only for a
// durably committed message, so its message was finished); format 1
// metadata without data is quarantined, as before.
//
// Delivery is therefore at-least-once only across a crash: between the
// next hop's 250 and the durable metadata update or removal (a crash
// there sends the message again to those recipients), and when the
// connection drops after the final dot before the reply (RFC 1047). A DSN
// is committed (durably, like any message) before the failed recipients
// are marked bounced, so a crash between the two can send a DSN twice,
// never none.
//
// The crash test kills (SIGKILL) a process committing from several
// goroutines at random moments and checks that every message whose
// Commit returned is there, intact; it does not cut the power, which is
// what the fsyncs are for.
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
// SMTPDeliverer reuses connections: it keeps idle ones per next hop and
// TLS mode (at most SMTPDeliverer.MaxIdle each, for 10 seconds and 100
// messages) and sends RSET before the next message. A reused connection
// found dead before the message's data was sent is replaced by a new one
// for the same attempt; never once the data has begun, so reuse does not
// add to the at-least-once cases above.
//
// Messages from an SMTP client (Envelope.ClientAddr or ClientHelo set)
// get a Received header, written by Stage before the content.
package queue
