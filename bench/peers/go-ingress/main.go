// Command go-ingress is the benchmark peer of the bridge's ingress: a minimal Go service with the same
// contract on the hot path, so `python -m bench.ingress` can measure both in one run on one broker.
//
// Same as the ingress: POST only, a bounded body, the ping answered, the secret header and the
// body's Origin.Account/Origin.Key compared in constant time, the required fields and the OrderId
// shape checked, a record built like the bridge's (payload without Origin.Key, event_id = sha256 of
// OrderId, State and LastChange, received_at, source, account) keyed by OrderId with the same
// headers, produced idempotently with acks=all, and 200 only after the acknowledgement (503 on a
// failure or after 4 s). Not included: metrics, the overload bound, secret rotation, tracing, logs.
//
// Configuration from the environment: PEER_BOOTSTRAP, PEER_TOPIC, PEER_ACCOUNT, PEER_APP_KEY,
// PEER_HEADER, PEER_SECRET, PEER_PATH, PEER_LINGER_MS. It listens on 127.0.0.1 on a free port and
// prints "listening PORT" once it serves; SIGTERM stops it.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	maxBody       = 64 * 1024
	answerTimeout = 4 * time.Second
)

var orderID = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$`)

type server struct {
	client          *kgo.Client
	topic, path     string
	account, appKey []byte
	header          string
	secret          []byte
}

func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != s.path {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, `{"error":"payload too large or unreadable"}`, http.StatusRequestEntityTooLarge)
		return
	}
	var payload map[string]any
	if err := json.Unmarshal(body, &payload); err != nil {
		http.Error(w, `{"error":"invalid json"}`, http.StatusBadRequest)
		return
	}
	if payload["hookConfig"] == "ping" {
		w.Write([]byte(`{"status":"pong"}`))
		return
	}
	origin, _ := payload["Origin"].(map[string]any)
	account, _ := origin["Account"].(string)
	key, _ := origin["Key"].(string)
	okSecret := equal([]byte(r.Header.Get(s.header)), s.secret)
	okAccount := equal([]byte(account), s.account)
	okKey := equal([]byte(key), s.appKey)
	if !(okSecret && okAccount && okKey) {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	id, _ := payload["OrderId"].(string)
	lastChange, _ := payload["LastChange"].(string)
	state, _ := payload["State"].(string)
	if !orderID.MatchString(id) || lastChange == "" {
		http.Error(w, `{"error":"schema violation: OrderId, LastChange"}`, http.StatusUnprocessableEntity)
		return
	}
	sum := sha256.Sum256([]byte(id + "\x1f" + state + "\x1f" + lastChange))
	eventID := hex.EncodeToString(sum[:])[:32]
	delete(origin, "Key")
	payload["event_id"] = eventID
	payload["received_at"] = time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	payload["source"] = "hook"
	payload["account"] = account
	value, _ := json.Marshal(payload)
	record := &kgo.Record{
		Topic: s.topic,
		Key:   []byte(id),
		Value: value,
		Headers: []kgo.RecordHeader{
			{Key: "event_id", Value: []byte(eventID)},
			{Key: "source", Value: []byte("hook")},
			{Key: "state", Value: []byte(state)},
		},
	}
	ctx, cancel := context.WithTimeout(r.Context(), answerTimeout)
	defer cancel()
	if err := s.client.ProduceSync(ctx, record).FirstErr(); err != nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, `{"error":"kafka unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"accepted"}`))
}

func main() {
	linger, _ := strconv.Atoi(os.Getenv("PEER_LINGER_MS"))
	client, err := kgo.NewClient(
		kgo.SeedBrokers(os.Getenv("PEER_BOOTSTRAP")),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent by default with acks=all
		kgo.ProducerLinger(time.Duration(linger)*time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // Kafka's murmur2 on the key, like ours
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-ingress:", err)
		os.Exit(1)
	}
	defer client.Close()
	s := &server{
		client:  client,
		topic:   os.Getenv("PEER_TOPIC"),
		path:    os.Getenv("PEER_PATH"),
		account: []byte(os.Getenv("PEER_ACCOUNT")),
		appKey:  []byte(os.Getenv("PEER_APP_KEY")),
		header:  os.Getenv("PEER_HEADER"),
		secret:  []byte(os.Getenv("PEER_SECRET")),
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-ingress:", err)
		os.Exit(1)
	}
	httpServer := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go httpServer.Serve(listener)
	fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	httpServer.Shutdown(ctx)
}
