"""Canned replies for examples/support_llm.csv, served by the local fake OpenAI server.

`make llm-demo` (scripts/llm-demo) and the end-to-end tests start
``agentmap.testing.FakeOpenAIServer`` with :func:`reply`, then run the workflow
with the real litellm backend pointed at it: every call goes over HTTP, and
no API key or network is needed. The replies are deterministic stand-ins for a
model: a JSON classification when JSON is asked for, a team name when the
orchestrator asks to route, and short texts otherwise.
"""

from __future__ import annotations

import json
import re
from typing import Any

TEAMS = {
    "billing": ("invoice", "refund", "payment", "charged", "charge", "card", "subscription"),
    "technical": ("error", "bug", "crash", "login", "password", "app", "install"),
}


def team_of(text: str) -> str:
    words = set(re.findall(r"[a-z]+", text.lower()))
    for team, keywords in TEAMS.items():
        if words.intersection(keywords):
            return team
    return "general"


def reply(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    system = " ".join(m.get("content", "") for m in messages if m.get("role") == "system")
    user = " ".join(m.get("content", "") for m in messages if m.get("role") == "user")
    if (body.get("response_format") or {}).get("type") == "json_object":
        urgent = bool(re.search(r"urgent|asap|immediately", user, re.IGNORECASE))
        return json.dumps({"team": team_of(user), "urgency": "high" if urgent else "low"})
    if "exactly one node name" in system:
        return team_of(user).title()
    if system.startswith("Summarise") or system.startswith("Summarize"):
        return f"Replied to the customer: {user[:60].strip()}"
    return f"Hello, thanks for reaching out. The {team_of(system + ' ' + user)} team is on it."
