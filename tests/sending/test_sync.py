"""Follower and template sync against the sandbox: paging, details, idempotence, progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resolvers import jobs, sync
from tests.conftest import Api
from tests.sending.conftest import USERS, follower_code, job_runner, sync_now, until
from tests.sending.processes import start
from zalo.sandbox import SandboxControl, SandboxServer
from zalo.sandbox.seed import DEMO_OA_ID, demo_seed

START = "mutation($oa: String) { syncFollowers(oa: $oa) { id kind oaCode status } }"
JOB = """query($id: ID!) { job(id: $id) { id kind oaCode status total done created updated
  failed error startedAt finishedAt } }"""
LIST = "GET /openapi/v3.0/oa/user/getlist"
DETAIL = "GET /openapi/v3.0/oa/user/detail"


async def finished(api: Api, job_id: str) -> dict[str, Any]:
    async def done() -> Any:
        job = (await api.data(JOB, {"id": job_id}))["job"]
        return job if job["status"] in ("SUCCEEDED", "FAILED") else None

    result: dict[str, Any] = await until(done)
    return result


async def test_follower_sync_pages_details_and_is_idempotent(
    demo: Api, fake: SandboxControl
) -> None:
    started = (await demo.data(START))["syncFollowers"]
    assert (started["kind"], started["oaCode"]) == ("sync_followers", "DEMO")
    job = await finished(demo, started["id"])
    assert job["status"] == "SUCCEEDED", job
    assert (job["total"], job["done"], job["created"], job["updated"], job["failed"]) == (
        120,
        120,
        120,
        0,
        0,
    )
    assert job["startedAt"] and job["finishedAt"]
    calls = (await fake.state())["calls"]
    assert (calls[LIST], calls[DETAIL]) == (3, 120)

    followers = (
        await demo.data(
            """{ followers(limit: 200, orderBy: [{zalo: ASC}]) { totalCount items { zalo
              zaloOaCode name avatar avatarUrl isFollower lastInteraction group } } }"""
        )
    )["followers"]
    assert followers["totalCount"] == 120
    first = next(f for f in followers["items"] if f["zalo"] == USERS[0])
    assert first["name"] == "Nguyễn Văn An" and first["zaloOaCode"] == "DEMO"
    assert first["avatar"].endswith("/0.jpg") and first["avatarUrl"] == first["avatar"]
    assert first["isFollower"] == 1 and first["lastInteraction"].endswith("Z")
    assert first["group"] == "vip, khách mới"  # Zalo tags
    # The folded keyword makes names searchable without diacritics.
    found = await demo.data('{ followers(search: "nguyen van an") { totalCount } }')
    assert found["followers"]["totalCount"] >= 1

    again = await finished(demo, (await demo.data(START))["syncFollowers"]["id"])
    assert again["id"] != job["id"]
    assert (again["done"], again["created"], again["updated"]) == (120, 0, 0)

    # One follower renamed at Zalo: the next sync updates exactly that row.
    world = demo_seed()
    world["oas"][0]["users"][3]["display_name"] = "Tên mới"
    await fake.seed({"oas": world["oas"]})
    third = await finished(demo, (await demo.data(START))["syncFollowers"]["id"])
    assert (third["total"], third["created"], third["updated"]) == (120, 0, 1)
    renamed = await demo.data(
        "query($z: String!) { followers(filter: {zalo: {eq: $z}}) { items { name } } }",
        {"z": USERS[3]},
    )
    assert renamed["followers"]["items"] == [{"name": "Tên mới"}]


async def test_template_sync(demo: Api, fake: SandboxControl) -> None:
    started = (await demo.data("mutation { syncTemplates { id kind } }"))["syncTemplates"]
    job = await finished(demo, started["id"])
    assert (job["status"], job["total"], job["created"], job["updated"]) == ("SUCCEEDED", 3, 3, 0)
    items = (
        await demo.data(
            """{ znsTemplates(orderBy: [{templateId: ASC}]) { items { templateId name status
              quality tag price previewUrl params synced zaloOaCode } } }"""
        )
    )["znsTemplates"]["items"]
    assert [t["templateId"] for t in items] == ["250001", "250002", "250003"]
    otp, order, pending = items
    assert (otp["name"], otp["status"], otp["tag"], otp["price"]) == (
        "Mã xác thực OTP",
        "ENABLE",
        "OTP",
        300,
    )
    assert otp["quality"] == "HIGH" and otp["previewUrl"].endswith("/250001")
    assert otp["params"] == [
        {
            "name": "otp",
            "type": "STRING",
            "required": True,
            "maxLength": 6,
            "minLength": 0,
            "acceptNull": False,
        }
    ]
    assert [p["name"] for p in order["params"]][-1] == "note"
    assert order["params"][-1]["required"] is False and order["params"][0]["maxLength"] == 30
    assert pending["status"] == "PENDING_REVIEW" and otp["synced"]
    again = await finished(
        demo, (await demo.data("mutation { syncTemplates { id } }"))["syncTemplates"]["id"]
    )
    assert (again["created"], again["updated"]) == (0, 0)


async def test_sync_refuses_what_cannot_sync(api: Api, demo: Api) -> None:
    errors = await api.errors('mutation { syncFollowers(oa: "NOPE") { id } }')
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["field"] == "oa"
    await api.data(
        'mutation { updateOfficialAccounts(input: [{code: "DEMO", isEnabled: false}]) { affectedCount } }'
    )
    errors = await api.errors("mutation { syncTemplates { id } }")
    assert "disabled" in errors[0]["message"] and errors[0]["extensions"]["field"] == "oa"
    assert (await api.data('{ job(id: "999") { id } }'))["job"] is None


async def test_conversation_import_skips_what_is_known(
    demo: Api, fake: SandboxControl, sandbox: SandboxServer
) -> None:
    await sync_now(demo, sandbox)
    user = USERS[1]
    for text in ("Chào shop", "Còn hàng không?", "Cảm ơn"):
        await fake.emit("user_send_text", oa_id=DEMO_OA_ID, user_id=user, text=text)
    code = await follower_code(demo, user)
    query = """mutation($f: String!) { importConversation(followerCode: $f, limit: 25) { imported
      skipped messages { direction status text zaloMessageId followerCode channel } } }"""
    first = (await demo.data(query, {"f": code}))["importConversation"]
    assert (first["imported"], first["skipped"]) == (3, 0)
    assert [m["text"] for m in first["messages"]] == ["Chào shop", "Còn hàng không?", "Cảm ơn"]
    assert {(m["direction"], m["status"], m["channel"]) for m in first["messages"]} == {
        ("in", "received", "oa")
    }
    await fake.emit("user_send_text", oa_id=DEMO_OA_ID, user_id=user, text="Alo")
    second = (await demo.data(query, {"f": code}))["importConversation"]
    assert (second["imported"], second["skipped"]) == (1, 3)
    total = await demo.data(
        "query($f: String!) { messages(filter: {followerCode: {eq: $f}}) { totalCount } }",
        {"f": code},
    )
    assert total["messages"]["totalCount"] == 4


async def test_a_killed_sync_resumes_from_its_cursor(
    demo: Api, fake: SandboxControl, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """``zalo-oa sync followers`` killed half-way: the same job goes on from its cursor."""
    await fake.knobs(slow_seconds=0.05)  # so the kill lands mid-sync
    cli = start(demo, sandbox, tmp_path, "sync", ["sync", "followers", "--oa", "DEMO"])
    try:

        async def half() -> Any:
            async with demo.backend.database.sessions() as session:
                job = await jobs.unfinished(session, sync.SYNC_FOLLOWERS, "DEMO")
            return job if job is not None and job.done >= 50 else None

        job = await until(half, within=60)
    finally:
        cli.kill()
    assert job.status == "RUNNING" and job.done in (50, 100)
    await fake.knobs(slow_seconds=0.0)
    calls_before = (await fake.state())["calls"]

    # Another process takes the job over once its heartbeat is older than the lease.
    async with job_runner(demo, sandbox) as runner:
        resumed = await runner.follow(job.id, every=0.1)
    assert resumed is not None and resumed.id == job.id and resumed.status == "SUCCEEDED"
    final = (await demo.data(JOB, {"id": str(job.id)}))["job"]
    assert (final["total"], final["done"], final["created"], final["updated"]) == (120, 120, 120, 0)
    calls = (await fake.state())["calls"]
    # The resumed run fetched only what the killed one had not committed.
    assert calls[LIST] - calls_before[LIST] <= 2
    assert calls[DETAIL] - calls_before[DETAIL] == 120 - job.done
    count = await demo.data("{ followers { totalCount } }")
    assert count["followers"]["totalCount"] == 120
