"""Gunicorn settings for Lixiao in production: `gunicorn -c gunicorn.conf.py 'wsgi:app'`.

Environment:
  WEB_CONCURRENCY   number of worker processes (default: number of CPU cores + 1)
  GUNICORN_WORKER_CLASS  sync (default) or gthread
  GUNICORN_THREADS  threads per worker for gthread workers (default 2)
  GUNICORN_BIND     address(es) to bind, comma-separated (default: ${HOST:-127.0.0.1}:${PORT:-8000})
  FORWARDED_ALLOW_IPS  proxies trusted for X-Forwarded-* headers (default: 127.0.0.1)
  GUNICORN_LOG_LEVEL   error log level (default: info)
  GUNICORN_MAX_REQUESTS  recycle a worker after this many requests (default 20000; 0 = never)

Use PostgreSQL (and Redis for RATELIMIT_STORAGE_URI) with several workers: SQLite and
memory:// rate limits are per machine / per process. Sync workers serve one request at a time
and must sit behind a buffering reverse proxy (nginx, as the gunicorn documentation advises), so a
slow phone connection never holds a worker.
"""
import multiprocessing
import os


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Default to loopback: put nginx (or another reverse proxy that terminates TLS) in front.
bind = [
    b.strip()
    for b in os.environ.get(
        "GUNICORN_BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
    ).split(",")
    if b.strip()
]
# Sync workers, cores + 1 of them. Measured with bench/portal.py on 2 cores (2,000 graduates,
# 2026-11-24, after a cached sheet came down to two queries without a transaction):
#   sync x 3: 862 requests/s (p99 27 ms), every view rendered 215/s (p99 89 ms)
#   sync x 4: 790-829 (p99 40-42 ms); sync x 5: 647 (each worker has its own sheet cache)
#   gthread 3 x 2, keep-alive 5 s: 800-900, but 347 (and 103 with rendering) when wrk's 16
#     persistent connections happened to land on one worker: it serves them alone, bound to one
#     core by the GIL. The same happens with any keep-alive client (an upstream keep-alive pool).
#   gthread 3 x 2, keep-alive off: 770 (p99 54 ms), every view rendered 195/s (p99 200 ms).
# The pages are CPU-bound (a cached sheet waits ≈ 0.3 ms for PostgreSQL), so threads only
# contend for the GIL. Sync workers close each connection, and the kernel spreads new ones.
workers = _int_env("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync").strip() or "sync"
threads = _int_env("GUNICORN_THREADS", 2) if worker_class == "gthread" else 1

timeout = 60
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then to bound memory growth. Not too often: a new worker costs about
# a second of CPU (imports, create_app, compiling templates on its first requests), so at peak
# load (hundreds of requests/s, bench/portal.py) max_requests = 1000 restarted some worker every
# couple of seconds, costing capacity and p99 latency.
max_requests = _int_env("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = max_requests // 10

# Each worker builds its own app (and database pool) after the fork.
preload_app = False

# Logs to stdout/stderr (journald, docker logs, ...).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'

forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proxy_allow_ips = forwarded_allow_ips

# Heartbeat files in memory rather than on a possibly slow disk.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

proc_name = "lixiao"


def post_worker_init(worker):  # noqa: ARG001
    """Move start-up objects out of the GC's generations: full collections stay short at peak."""
    import gc

    gc.collect()
    gc.freeze()
