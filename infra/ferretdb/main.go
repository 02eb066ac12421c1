// Command ferretdb-local runs FerretDB v1 embedded, on SQLite, for MigraDesk's local and test infrastructure.
//
// A plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb` panics at start-up because the generated
// build/version/version.txt is missing from the module (upstream issue #2982); the embedded package skips
// that check, so the project builds this small program instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	sqliteDir := flag.String("sqlite-dir", "", "existing directory for the SQLite databases (required)")
	// In WAL mode (FerretDB's default) "normal" syncs at checkpoints instead of on every commit: a crashed
	// process loses nothing, and only a power loss can roll back the last commits. "full" is FerretDB's default.
	synchronous := flag.String("synchronous", "normal", "SQLite synchronous pragma: normal or full")
	// SQLite checkpoints the WAL into the database every N pages (1000 by default): each checkpoint sorts the
	// WAL's frames and syncs the files, which took more than a quarter of the store's CPU under a stream of
	// small updates. A larger WAL between checkpoints (at most N pages of 4 KiB per database) costs a little
	// disk and makes each update about a quarter cheaper.
	walAutocheckpoint := flag.Int("wal-autocheckpoint", 20000, "SQLite wal_autocheckpoint pragma, in pages")
	flag.Parse()

	if *sqliteDir == "" {
		log.Fatal("--sqlite-dir is required")
	}
	if *walAutocheckpoint < 1 {
		log.Fatal("--wal-autocheckpoint must be at least 1")
	}
	if *synchronous != "normal" && *synchronous != "full" {
		log.Fatal("--synchronous must be normal or full")
	}
	if err := os.MkdirAll(*sqliteDir, 0o700); err != nil {
		log.Fatalf("cannot create %s: %v", *sqliteDir, err)
	}

	// Go's default GC target (100) spent about a tenth of the store's CPU collecting under a burst of writes; the
	// heap is tens of MB, so a larger target trades a little memory for CPU. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:   logger,
		Handler:  "sqlite",
		SQLiteURL: fmt.Sprintf("file:%s/?_pragma=synchronous(%s)&_pragma=wal_autocheckpoint(%d)",
			*sqliteDir, *synchronous, *walAutocheckpoint),
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log.Printf("FerretDB listening on %s (sqlite dir %s)", *listenAddr, *sqliteDir)
	f.Run(ctx)
	log.Printf("FerretDB stopped")
}
