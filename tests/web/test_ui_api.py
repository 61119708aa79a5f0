"""The JSON behind the web UI (``/api/ui``) and the pages, on SQLite and PostgreSQL, without a browser."""

from __future__ import annotations

from fastapi.testclient import TestClient

from phaseloom.api.app import create_app
from phaseloom.config import Settings
from tests.web.demo import seed_demo


def test_ui_endpoints_serve_the_demo(db):
    from phaseloom.services.costs import CostService
    from phaseloom.db.unit_of_work import UnitOfWork

    demo = seed_demo(db)
    CostService(UnitOfWork(db), Settings()).record_usage(demo.running_task, None, "gpt-test", 1000, 500)
    app = create_app(db, Settings(database_url=db.url))
    with TestClient(app, headers={"Authorization": f"Bearer {demo.admin_token}"}) as client:
        page = client.get("/")
        assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/static/js/board.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/static/../ui.py").status_code == 404
        board = client.get("/api/ui/board", params={"project": "demo"}).json()
        cards = {c["id"]: (col["id"], c) for col in board["columns"] for c in col["cards"]}
        assert cards[demo.testing_ticket][0] == "testing"
        assert cards[demo.testing_ticket][1]["agents"] == ["ana"]
        assert cards[demo.testing_ticket][1]["open_discoveries"] == 1
        graph = client.get("/api/ui/graph", params={"ticket_id": demo.testing_ticket}).json()
        xs = {n["task_id"]: n["x"] for n in graph["nodes"]}
        assert xs[demo.spawned_task] < xs[demo.running_task]  # implementation column left of testing
        assert [e["label"] for e in graph["edges"] if e["type"] == "discovery"] == ["bug_found"]
        ticket = client.get(f"/api/ui/tickets/{demo.testing_ticket}").json()
        assert [h["to_phase"] for h in ticket["history"]][-1] == "PHASE_TESTING"
        assert ticket["discoveries"][0]["type"] == "bug_found"
        assert [(c["model"], c["input_tokens"], c["output_tokens"]) for c in ticket["costs"]] == [
            ("gpt-test", 1000, 500)]
        assert client.get("/api/ui/agents").json()[0]["current_task"]["id"] == demo.running_task
        assert client.get("/api/ui/board", params={"project": "demo"},
                          headers={"Authorization": "Bearer wrong.token"}).status_code == 401
