"""Fire-time arithmetic of the CronJob controller (pure unit tests)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from sampan.api.cronschedule import parse
from sampan.controllers.cronjob.jobs import beyond_history, job_for, job_name, rfc3339
from sampan.controllers.cronjob.times import MAX_MISSED, most_recent, next_after

UTC = dt.UTC


def at(text: str, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz)


def test_next_after_steps_and_descriptors() -> None:
    assert next_after(parse("*/15 * * * *"), at("2026-01-01T10:07:30")) == at("2026-01-01T10:15:00")
    assert next_after(parse("@hourly"), at("2026-01-01T10:00:00")) == at("2026-01-01T11:00:00")
    assert next_after(parse("@daily"), at("2026-12-31T23:59:59")) == at("2027-01-01T00:00:00")
    assert next_after(parse("0 9 * * MON"), at("2026-12-06T12:00:00")) == at("2026-12-07T09:00:00")
    assert next_after(parse("@every 90s"), at("2026-01-01T10:00:00.5")) == at("2026-01-01T10:01:30")
    assert next_after(parse("0 0 30 2 *"), at("2026-01-01T00:00:00")) is None


def test_day_of_month_and_week_are_ored_unless_one_is_star() -> None:
    # the 13th or any Friday; Friday 2026-02-06 comes before the 13th
    assert next_after(parse("0 0 13 * 5"), at("2026-02-01T00:00:00")) == at("2026-02-06T00:00:00")
    assert next_after(parse("0 0 13 * *"), at("2026-02-01T00:00:00")) == at("2026-02-13T00:00:00")


def test_time_zone() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    got = next_after(parse("0 9 * * *"), dt.datetime(2026, 6, 1, 6, 0, tzinfo=UTC).astimezone(berlin))
    assert got is not None
    assert got.astimezone(UTC) == at("2026-06-01T07:00:00")
    assert rfc3339(got) == "2026-06-01T09:00:00+02:00"
    assert rfc3339(at("2026-06-01T07:00:00")) == "2026-06-01T07:00:00Z"


def test_most_recent_counts_missed_and_finds_latest_past_the_limit() -> None:
    sched = parse("* * * * *")
    latest, n = most_recent(sched, at("2026-01-01T10:00:00"), at("2026-01-01T10:03:30"))
    assert (latest, n) == (at("2026-01-01T10:03:00"), 3)
    assert most_recent(sched, at("2026-01-01T10:00:00"), at("2026-01-01T10:00:59")) == (None, 0)
    latest, n = most_recent(sched, at("2026-01-01T00:00:00"), at("2026-01-03T05:07:10"))
    assert latest == at("2026-01-03T05:07:00")
    assert n > MAX_MISSED


def test_job_for_and_history() -> None:
    cronjob = {"metadata": {"name": "nightly", "namespace": "ns", "uid": "u1"},
               "spec": {"jobTemplate": {"metadata": {"labels": {"a": "b"}, "annotations": {"x": "y"}},
                                        "spec": {"template": {"spec": {"containers": []}}}}}}
    when = at("2026-01-01T10:00:00")
    job = job_for(cronjob, when)
    assert job["metadata"]["name"] == job_name("nightly", when) == f"nightly-{int(when.timestamp()) // 60}"
    assert job["metadata"]["labels"] == {"a": "b"}
    assert job["metadata"]["annotations"] == {"x": "y", "batch.kubernetes.io/cronjob-scheduled-timestamp":
                                              "2026-01-01T10:00:00Z"}
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u1"

    def done(name: str, kind: str, start: str) -> dict:
        return {"metadata": {"name": name}, "status": {"startTime": start,
                                                        "conditions": [{"type": kind, "status": "True"}]}}
    jobs = [done("s1", "Complete", "2026-01-01T00:01:00Z"), done("s2", "Complete", "2026-01-01T00:02:00Z"),
            done("s3", "Complete", "2026-01-01T00:03:00Z"), done("f1", "Failed", "2026-01-01T00:01:00Z"),
            {"metadata": {"name": "running"}, "status": {}}]
    gone = beyond_history(jobs, successful_limit=2, failed_limit=0)
    assert sorted(j["metadata"]["name"] for j in gone) == ["f1", "s1"]
    assert beyond_history(jobs, successful_limit=None, failed_limit=None) == []
