// Command podload creates Pods through a Kubernetes API server as fast as it is let, from several
// connections at once, and prints how many it created per second and how long each creation took.
// scripts/bench-cluster.sh runs it against namespaces where the policy injects, declines, or is
// never called, to measure what the admission chain adds to a Pod creation.
//
// It speaks HTTPS with the client certificate of a kubeconfig's user, the way kubectl does, but
// keeps its connections open: a process per Pod would measure process start-up instead.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Namespace  string  `json:"namespace"`
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"firstError,omitempty"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"perSecond"`
	P50Ms      float64 `json:"p50Ms"`
	P99Ms      float64 `json:"p99Ms"`
	// Pods stored with a container named istio-proxy.
	Injected int `json:"injected"`
}

func main() {
	server := flag.String("server", "", "the API server's URL, https://127.0.0.1:PORT")
	caFile := flag.String("ca", "", "the API server's certificate authority (PEM)")
	certFile := flag.String("cert", "", "the client certificate (PEM)")
	keyFile := flag.String("key", "", "the client key (PEM)")
	namespace := flag.String("namespace", "", "where to create the Pods")
	podFile := flag.String("pod", "", "the Pod to create, as JSON; its name is replaced by generateName")
	count := flag.Int("n", 500, "how many Pods to create")
	workers := flag.Int("c", 8, "how many creations at once")
	flag.Parse()
	if *server == "" || *namespace == "" || *podFile == "" {
		fail("usage: podload -server URL -ca FILE -cert FILE -key FILE -namespace NS -pod FILE [-n N] [-c C]")
	}

	client, err := newClient(*caFile, *certFile, *keyFile, *workers)
	if err != nil {
		fail(err.Error())
	}
	pod, err := podBody(*podFile)
	if err != nil {
		fail(err.Error())
	}
	url := fmt.Sprintf("%s/api/v1/namespaces/%s/pods", *server, *namespace)

	var next, errors, injected atomic.Int64
	var firstError atomic.Value
	latencies := make([]time.Duration, *count)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *count {
					return
				}
				began := time.Now()
				status, answer, err := create(client, url, pod)
				latencies[i] = time.Since(began)
				switch {
				case err != nil:
					errors.Add(1)
					firstError.CompareAndSwap(nil, err.Error())
				case status != http.StatusCreated:
					errors.Add(1)
					firstError.CompareAndSwap(nil, fmt.Sprintf("HTTP %d: %s", status, answer))
				case bytes.Contains(answer, []byte(`"name":"istio-proxy"`)):
					injected.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
	out := result{
		Namespace: *namespace,
		Requests:  *count,
		Errors:    int(errors.Load()),
		Seconds:   elapsed.Seconds(),
		PerSecond: float64(*count) / elapsed.Seconds(),
		P50Ms:     millis(percentile(latencies, 0.50)),
		P99Ms:     millis(percentile(latencies, 0.99)),
		Injected:  int(injected.Load()),
	}
	if message, ok := firstError.Load().(string); ok {
		out.FirstError = message
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err.Error())
	}
}

func newClient(caFile, certFile, keyFile string, workers int) (*http.Client, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s: no certificate in it", caFile)
	}
	certificate, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{certificate}},
		MaxIdleConnsPerHost: workers,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: transport, Timeout: 60 * time.Second}, nil
}

// podBody is the Pod of podFile with a generateName, so that every creation makes a new Pod.
func podBody(podFile string) ([]byte, error) {
	text, err := os.ReadFile(podFile)
	if err != nil {
		return nil, err
	}
	var pod map[string]any
	if err := json.Unmarshal(text, &pod); err != nil {
		return nil, fmt.Errorf("%s: %w", podFile, err)
	}
	metadata, _ := pod["metadata"].(map[string]any)
	if metadata == nil {
		metadata = map[string]any{}
		pod["metadata"] = metadata
	}
	delete(metadata, "name")
	metadata["generateName"] = "load-"
	return json.Marshal(pod)
}

func create(client *http.Client, url string, pod []byte) (int, []byte, error) {
	response, err := client.Post(url, "application/json", bytes.NewReader(pod))
	if err != nil {
		return 0, nil, err
	}
	defer response.Body.Close()
	answer, err := io.ReadAll(response.Body)
	return response.StatusCode, answer, err
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	index := int(p*float64(len(sorted))+0.5) - 1
	if index < 0 {
		index = 0
	}
	if index >= len(sorted) {
		index = len(sorted) - 1
	}
	return sorted[index]
}

func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "podload:", message)
	os.Exit(2)
}
