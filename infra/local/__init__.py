"""MigraDesk's local stack: a real Apache Kafka broker, a MongoDB-compatible store and the three services as OS
processes, without Docker; used by `make run`/`make up`/`make prepare` (`python -m infra.local ...`), by the
tests (tests/support/) and by the benchmarks. Every piece is a `Component` (component.py: `start()`, `stop()`,
`address`, `healthy()`): the KRaft broker run from Maven-fetched jars (kafka.py), FerretDB built with the
project's patches by ferretdb_build.py or a `mongod` on PATH (store.py), an `External` dependency named by
KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI or started by testcontainers (component.py), and a `ServiceProcess`
(services.py, also `running_services` and `running_replicas`). stack.py chooses and starts the broker and the
store (`start_infra`, `prepare`); process.py spawns into .local/logs/, keeps pid files in .local/pids/ to reap
what an interrupted run left behind, and waits for readiness; cli.py is the command line with the demo data.
Data lives in .local/run/<run name>/, binaries in .local/bin/ (paths.py); fetched jars and built binaries are
reused while their hash stamps match their inputs.
"""
