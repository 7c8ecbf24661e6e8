package gateway

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the gateway's Prometheus metrics:
//
//	signet_gateway_messages_total{direction, action, result}
//	signet_gateway_processing_seconds{direction}   (histogram, DATA to reply)
//	signet_queue_messages{state}                  (from QueueStats)
type Metrics struct {
	reg      *prometheus.Registry
	messages *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics makes the metrics; queueStats, if set, is read at each scrape
// and reported as signet_queue_messages{state}.
func NewMetrics(queueStats func() map[string]float64) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_gateway_messages_total",
		Help: "Messages the SMTP gateway handled, by direction, action (signed, encrypted, decrypted, verified, passed …) and result (ok, refused, deferred, error).",
	}, []string{"direction", "action", "result"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "signet_gateway_processing_seconds",
		Help:    "Time from the end of DATA to the reply, by direction.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"direction"})
	m.reg.MustRegister(m.messages, m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queueStats != nil {
		desc := prometheus.NewDesc("signet_queue_messages", "Messages in the delivery queue, by state.", []string{"state"}, nil)
		m.reg.MustRegister(collectorFunc{desc: desc, collect: func(ch chan<- prometheus.Metric) {
			for state, v := range queueStats() {
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, state)
			}
		}})
	}
	return m
}

type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// Observe records one message; it fits Config.Observe.
func (m *Metrics) Observe(rep *Report, d time.Duration, err error) {
	direction, action, result := "unknown", "passed", "ok"
	if rep != nil {
		if rep.Direction != "" {
			direction = rep.Direction
		}
		if len(rep.Actions) > 0 {
			action = strings.Join(rep.Actions, "+")
		}
		if rep.Result != "" {
			result = rep.Result
		}
	}
	if err != nil {
		result = "deferred"
	}
	m.messages.WithLabelValues(direction, action, result).Inc()
	m.latency.WithLabelValues(direction).Observe(d.Seconds())
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
