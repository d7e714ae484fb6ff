"""The web UI in a real browser (Debian's Chromium through Playwright) against a real daemon."""

from __future__ import annotations

import re
import time
import uuid

import pytest
import trio
from playwright.sync_api import expect

from memhub.errors import NotFound
from memhub.protocol import messages as m
from tests.mcp_bridge.e2e import call_ok, open_bridge, stored_hash

from .helpers import Daemon, Watched, no_complaints


def unique(word: str) -> str:
    return f"{word}-{uuid.uuid4().hex[:8]}"


def store(daemon: Daemon, content: str, tags: list[str], memory_type: str | None = None) -> str:
    reply = daemon.call(m.Store(id=0, content=content, tags=tags, memory_type=memory_type))
    assert isinstance(reply, m.Stored)
    return reply.content_hash


def test_page_opens_from_the_printed_link_and_forgets_the_ticket(
    daemon: Daemon, watched: Watched
) -> None:
    url = daemon.ui_url()
    watched.open(url)
    page = watched.page
    # The ticket left the address bar and history; the tab keeps a session token instead.
    assert page.url == f"http://127.0.0.1:{daemon.port}/"
    session = page.evaluate("sessionStorage.getItem('memhub.session')")
    assert isinstance(session, str)
    assert session.startswith("session-")
    assert page.context.cookies() == []
    expect(page.locator("#conn-status")).to_have_text("connected")
    expect(page.locator("#db-path")).to_have_text(str(daemon.db))
    # A reload reconnects with the session token (the ticket is gone and spent).
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#conn-status")).to_have_text("connected")
    no_complaints(watched)


def test_a_memory_stored_by_a_real_bridge_appears_in_the_feed_without_reload(
    daemon: Daemon, watched: Watched
) -> None:
    watched.open(daemon.ui_url())
    page = watched.page
    page.evaluate("window.__notReloaded = true")
    content = f"bridge wrote this {unique('note')}"

    async def store_through_bridge() -> str:
        async with open_bridge(daemon.db, client_name="claude-code") as client:
            text = await call_ok(
                client, "store_memory", {"content": content, "metadata": {"tags": "from-bridge"}}
            )
            return stored_hash(text)

    content_hash = trio.run(store_through_bridge)
    row = page.locator(f"#feed-list li[data-hash='{content_hash}'].kind-stored")
    expect(row).to_contain_text(content, timeout=15_000)
    # The bridge names itself after its MCP client, as Claude Code would be named.
    expect(row.locator(".client")).to_have_text("claude-code")
    expect(row.locator(".tag")).to_have_text(["from-bridge"])
    assert page.evaluate("window.__notReloaded") is True
    # The client filter narrows the feed to that client's writes.
    page.select_option("#feed-client", "claude-code")
    expect(row).to_be_visible()
    assert page.locator("#feed-list li:not([hidden])[data-client='web-ui']").count() == 0
    no_complaints(watched)


def test_search_with_tag_type_and_mode_filters(daemon: Daemon, watched: Watched) -> None:
    topic = unique("topic")
    wanted = store(daemon, f"deploy runbook {topic} alpha", [topic, "ops"], "reference")
    store(daemon, f"deploy runbook {topic} beta", [topic], "reference")
    store(daemon, f"deploy runbook {topic} gamma", [topic, "ops"], "note")
    watched.open(daemon.ui_url())
    page = watched.page
    page.keyboard.press("/")
    expect(page.locator("#search-query")).to_be_focused()
    page.fill("#search-query", f"deploy runbook {topic}")
    form = page.locator("#search-form")
    form.locator("select[name=mode]").select_option("hybrid")
    form.locator("input[name=tags]").fill(f"{topic}, ops")
    form.locator("select[name=tag_match]").select_option("all")
    form.locator("input[name=memory_type]").fill("reference")
    form.locator("input[name=time_expr]").fill("today")
    page.keyboard.press("Enter")
    expect(page.locator("#search-summary")).to_contain_text("1 result (hybrid")
    results = page.locator("#search-results li")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text(f"{topic} alpha")
    results.first.locator(".rowbutton").click()
    expect(page.locator("#detail-body .mono").first).to_have_text(wanted)
    page.keyboard.press("Escape")
    assert re.fullmatch(r"[01]\.\d{3}", results.first.locator(".score").inner_text())
    # Exact mode, any tag: the three memories of the topic.
    form.locator("select[name=mode]").select_option("exact")
    form.locator("input[name=tags]").fill(topic)
    form.locator("input[name=memory_type]").fill("")
    form.locator("button[type=submit]").click()
    expect(page.locator("#search-summary")).to_contain_text("3 results (exact")
    results.first.locator(".rowbutton").click()
    expect(page.locator("#detail-content")).to_contain_text(topic)
    page.keyboard.press("Escape")
    no_complaints(watched)


def test_edit_tags_and_type_from_the_detail_view(daemon: Daemon, watched: Watched) -> None:
    topic = unique("edit")
    content_hash = store(daemon, f"tag me {topic}", [topic])
    watched.open(daemon.ui_url())
    page = watched.page
    page.locator(f"#feed-list li[data-hash='{content_hash}'] .rowbutton").click()
    expect(page.locator("#detail-content")).to_have_text(f"tag me {topic}")
    page.fill("#edit-tags", f"{topic}, edited, Second")
    page.fill("#edit-type", "decision")
    page.click("#save-memory")
    expect(page.locator("#detail .status")).to_contain_text("Saved")
    found = daemon.call(m.Get(id=0, content_hash=content_hash))
    assert isinstance(found, m.Found)
    assert found.memory.tags == [topic, "edited", "second"]
    assert found.memory.memory_type == "decision"
    # The live feed saw the update, named after the page's own connection.
    updated = page.locator(f"#feed-list li[data-hash='{content_hash}'].kind-updated")
    expect(updated.locator(".client")).to_have_text("web-ui")
    no_complaints(watched)


def test_duplicate_cleanup_shows_its_dry_run_first(daemon: Daemon, watched: Watched) -> None:
    store(daemon, f"unique content {unique('dupe')}", ["dupes"])
    before = daemon.call(m.Health(id=0))
    assert isinstance(before, m.HealthReport)
    watched.open(daemon.ui_url())
    page = watched.page
    page.click("#tab-browse")
    page.click("#dupes-preview-button")
    # A database memhub created keeps content hashes unique: the dry run finds none, and
    # nothing is removed (no confirm is even asked for).
    expect(page.locator("#dupes-preview")).to_contain_text("No duplicates")
    expect(page.locator("#confirm")).to_be_hidden()
    after = daemon.call(m.Health(id=0))
    assert isinstance(after, m.HealthReport)
    assert after.total_memories == before.total_memories
    preview = daemon.call(m.CleanupDuplicates(id=0, dry_run=True))
    assert isinstance(preview, m.CleanedUp)
    assert preview.dry_run
    assert preview.content_hashes == []
    no_complaints(watched)


def test_delete_by_tag_previews_then_deletes_only_after_confirm(
    daemon: Daemon, watched: Watched
) -> None:
    doomed = unique("doomed")
    hashes = [store(daemon, f"temporary {doomed} number {i}", [doomed]) for i in range(3)]
    keep = store(daemon, f"keep me {unique('keep')}", ["keeper"])
    watched.open(daemon.ui_url())
    page = watched.page
    page.click("#tab-browse")
    page.fill("#bulk-tags", doomed)
    page.click("#bulk-preview-button")
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-title")).to_have_text("Delete 3 memories?")
    expect(page.locator("#confirm-items li")).to_have_count(3)
    expect(page.locator("#confirm-items")).to_contain_text(f"temporary {doomed} number 1")
    page.click("#confirm-cancel")
    expect(page.locator("#bulk-preview")).to_contain_text("Nothing was deleted")
    for content_hash in hashes:
        assert isinstance(daemon.call(m.Get(id=0, content_hash=content_hash)), m.Found)
    page.click("#bulk-preview-button")
    expect(page.locator("#confirm-ok")).to_have_text("Delete 3")
    page.click("#confirm-ok")
    expect(page.locator("#bulk-preview")).to_contain_text("Deleted 3 memories")
    for content_hash in hashes:
        with pytest.raises(NotFound):
            daemon.call(m.Get(id=0, content_hash=content_hash))
    assert isinstance(daemon.call(m.Get(id=0, content_hash=keep)), m.Found)
    # A single delete from the detail view asks too.
    page.click("#tab-feed")
    page.locator(f"#feed-list li[data-hash='{keep}'].kind-recent .rowbutton").click()
    page.click("#delete-memory")
    expect(page.locator("#confirm-items")).to_contain_text("keep me")
    page.click("#confirm-ok")
    expect(page.locator(f"#feed-list li[data-hash='{keep}'].kind-deleted")).to_have_count(1)
    with pytest.raises(NotFound):
        daemon.call(m.Get(id=0, content_hash=keep))
    no_complaints(watched)


def test_a_reused_ticket_is_refused_with_what_to_do(daemon: Daemon, watched: Watched) -> None:
    url = daemon.ui_url()
    watched.open(url)
    second = watched.page.context.new_page()
    second.goto(url)
    expect(second.locator("#fatal")).to_contain_text("run `memhub ui` again")
    expect(second.locator("#fatal")).to_contain_text("already used or has expired")
    assert second.evaluate("sessionStorage.getItem('memhub.session')") is None
    # Without any credential the page says how to get one.
    third = watched.page.context.new_page()
    third.goto(f"http://127.0.0.1:{daemon.port}/")
    expect(third.locator("#fatal")).to_contain_text("memhub ui")
    no_complaints(watched)


XSS = [
    '<img src=x onerror="window.__xss = 1">',
    "<script>window.__xss = 2</script>",
    '"><svg onload="window.__xss = 3"></svg>',
    "javascript:window.__xss=4",
]


def test_memory_content_renders_as_inert_text(daemon: Daemon, watched: Watched) -> None:
    watched.open(daemon.ui_url())
    page = watched.page
    payload = f"{unique('xss')} " + " ".join(XSS)
    tags = ["<b>bold</b>", 'x" onmouseover="window.__xss=5']
    content_hash = store(daemon, payload, tags, "note")
    row = page.locator(f"#feed-list li[data-hash='{content_hash}']")
    expect(row.locator(".text")).to_have_text(payload)
    row.locator(".rowbutton").click()
    expect(page.locator("#detail-content")).to_have_text(payload)
    page.keyboard.press("Escape")
    for tab in ("browse", "insights"):
        page.click(f"#tab-{tab}")
    expect(page.locator("#tag-cloud")).to_contain_text("<b>bold</b>")
    page.mouse.move(10, 10)
    time.sleep(0.3)  # give any injected handler a chance to run
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img, main script, main svg[onload], #detail img").count() == 0
    assert page.locator("b").count() == 0
    no_complaints(watched)


def test_theme_switch_and_keyboard_navigation(daemon: Daemon, watched: Watched) -> None:
    store(daemon, "Staging deploys need the VPN; ask ops for a token", ["ops", "deploy"])
    store(daemon, "Prefer trio over asyncio in memhub", ["python", "decision"], "decision")
    watched.open(daemon.ui_url())
    page = watched.page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.keyboard.press("t")
    theme = page.evaluate("document.documentElement.dataset.theme")
    assert theme in ("dark", "light")
    page.keyboard.press("t")
    assert page.evaluate("document.documentElement.dataset.theme") != theme
    page.keyboard.press("5")
    expect(page.locator("#panel-health")).to_be_visible()
    expect(page.locator("#clients-body")).to_contain_text("web-ui")
    page.keyboard.press("1")
    expect(page.locator("#panel-feed")).to_be_visible()
    no_complaints(watched)


def test_rows_written_by_another_process_appear_in_the_feed(
    daemon: Daemon, watched: Watched
) -> None:
    import apsw

    from memhub.domain.hashing import content_hash

    watched.open(daemon.ui_url())
    page = watched.page
    text = f"written beside the daemon {unique('legacy')}"
    legacy = apsw.Connection(str(daemon.db))
    legacy.execute("PRAGMA busy_timeout=10000")
    with legacy:
        legacy.execute(
            "INSERT INTO memories (content_hash, content, tags, memory_type, metadata, "
            "created_at, updated_at) VALUES (?, ?, 'legacy', 'note', '{}', ?, ?)",
            (content_hash(text), text, time.time(), time.time()),
        )
    legacy.close()
    row = page.locator(f"#feed-list li[data-hash='{content_hash(text)}']")
    expect(row.locator(".client")).to_have_text("another process", timeout=15_000)
    expect(row.locator(".text")).to_have_text(text)
    # A write through the daemon is shown once, under its own client's name.
    own = store(daemon, f"through the daemon {unique('own')}", ["own"])
    expect(page.locator(f"#feed-list li[data-hash='{own}']")).to_have_count(1)
    time.sleep(4.5)  # past one poll and its grace period
    expect(page.locator(f"#feed-list li[data-hash='{own}']")).to_have_count(1)
    expect(page.locator(f"#feed-list li[data-hash='{own}'] .client")).to_have_text("webui-test")
    no_complaints(watched)


def test_add_a_memory_and_see_the_duplicate_it_hits(daemon: Daemon, watched: Watched) -> None:
    watched.open(daemon.ui_url())
    page = watched.page
    content = f"added from the page {unique('add')}"
    page.keyboard.press("6")
    form = page.locator("#add-form")
    form.locator("textarea[name=content]").fill(content)
    form.locator("input[name=tags]").fill("page, added")
    form.locator("button[type=submit]").click()
    expect(page.locator("#add-result")).to_contain_text("Stored")
    reply = daemon.call(m.Search(id=0, query=content, mode="exact", limit=1))
    assert isinstance(reply, m.SearchResult)
    assert [h.memory.tags for h in reply.hits] == [["page", "added"]]
    form.locator("textarea[name=content]").fill(content.upper())  # the same text for the hash
    form.locator("button[type=submit]").click()
    expect(page.locator("#add-result .error")).to_contain_text("Duplicate content detected")
    page.get_by_role("button", name="Open the memory it duplicates").click()
    expect(page.locator("#detail-content")).to_have_text(content)
    no_complaints(watched)
