"""Faults in the middle of each kind of job, in `leadflow worker` processes on a database of their own: a worker
killed with SIGKILL, and (PostgreSQL) the worker's connections ended by the server. Each run is compared, count for
count, with a clean run of the same job on a copy of the same data."""

import pytest
from django.db import connection

from .worlds import Template, kill, resume

KINDS = ["import", "rescore", "training"]
# The point each test cuts a job at: a chunk of the import committed (of 2), the first batch of 8,000 leads
# rescored (of 2), the model trained (then every lead is predicted).
MARKS = {
    "import": lambda job: job["progress"] >= 500,
    "rescore": lambda job: job["progress"] >= 5000,
    "training": lambda job: job["model_id"] is not None,
}
# What the finished job says it did after the fault.
CARRIED_ON = {"import": "Resumed after row", "rescore": "Started over and scored", "training": "Resumed with model"}
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_terminate_backend ends PostgreSQL connections; SQLite has none"
)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    template = Template(tmp_path_factory.mktemp("faults"), leads=8000, known=1000, import_rows=600)
    yield template
    template.drop()


@pytest.fixture(scope="module")
def clean_run(template):
    """What each kind of job does on the seeded data when nothing goes wrong: its row and the table counts."""
    done: dict[str, tuple[dict, dict]] = {}

    def run(kind: str) -> tuple[dict, dict]:
        if kind not in done:
            world = template.copy(f"clean_{kind}")
            pk = world.queue(kind)
            world.leadflow("worker", "--once")
            job = world.job(kind, pk)
            assert job["status"] == "done", job
            done[kind] = job, world.census()
        return done[kind]

    return run


def assert_like_the_clean_run(world, kind, job, clean_run):
    clean_job, clean_census = clean_run(kind)
    assert job["status"] == "done", job
    assert CARRIED_ON[kind] in job["message"]
    assert world.census() == clean_census
    if kind == "import":
        assert job["counts"] == clean_job["counts"]  # nothing counted twice
        assert clean_job["message"] in job["message"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_whose_worker_is_killed_carries_on_in_the_next_worker(template, clean_run, kind, tmp_path):
    world = template.copy(f"killed_{kind}")
    pk = world.queue(kind)
    worker = world.start("worker", log=tmp_path / "worker.log")
    try:
        cut = world.catch(kind, pk, MARKS[kind], worker)
    finally:
        kill(worker)
    assert cut["status"] == "running", f"the job finished before the worker was killed: {cut}"

    world.leadflow("worker", "--once")

    job = world.job(kind, pk)
    where = f"{cut['progress']:,} of {cut['progress_total']:,}"
    assert f"The worker running attempt 1 stopped at {where}." in job["message"]
    assert job["attempts"] == 2
    assert_like_the_clean_run(world, kind, job, clean_run)


@postgres_only
@pytest.mark.parametrize("kind", KINDS)
def test_a_job_whose_connection_drops_is_tried_again_by_the_same_worker(template, clean_run, kind, tmp_path):
    world = template.copy(f"dropped_{kind}")
    pk = world.queue(kind)
    log = tmp_path / "worker.log"
    worker = world.start("worker", "--poll", "0.2", log=log)
    try:
        world.catch(kind, pk, MARKS[kind], worker)
        assert world.terminate_backends() >= 1
        resume(worker)
        job = world.wait_for(kind, pk, lambda job: job["status"] in ("done", "failed"))
        assert worker.poll() is None, "the worker died"
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    said = [line for line in log.read_text().splitlines() if "the database is unavailable" in line.lower()]
    assert len(said) == 1, log.read_text()
    assert "The database connection dropped during attempt 1" in job["message"]
    assert_like_the_clean_run(world, kind, job, clean_run)


@postgres_only
def test_an_idle_worker_whose_connection_drops_reconnects_and_goes_on(template, tmp_path):
    world = template.copy("dropped_idle")
    log = tmp_path / "worker.log"
    worker = world.start("worker", "--poll", "0.2", log=log)
    try:
        world.wait_for_heartbeat()
        assert world.terminate_backends() >= 1
        pk = world.queue("rescore")
        job = world.wait_for("rescore", pk, lambda job: job["status"] in ("done", "failed"))
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert job["message"] == "Scored 8,000 leads."
    said = [line for line in log.read_text().splitlines() if "the database is unavailable" in line.lower()]
    assert len(said) == 1, log.read_text()
