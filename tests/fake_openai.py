"""A chat-completions endpoint on 127.0.0.1, for the AI drafts.

Written from OpenAI's documented API (POST /v1/chat/completions; a `chat.completion` object with `choices[].message`
{role "assistant", content, refusal, annotations}, `finish_reason` stop | length | content_filter, `usage`) and
openai-python's types (`openai/types/chat/chat_completion.py`, `chat_completion_message.py`); test_ai_draft.py parses
every answer it gives with the SDK's own `ChatCompletion` model. What it answers next is set by the test:
`answer` (text), `refusal`, `finish_reason` and `delay` (seconds before answering, for timeouts).
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support import FakeServer


def completion(content: str | None, refusal: str | None = None, finish_reason: str = "stop",
               model: str = "drafter-1") -> dict[str, Any]:
    return {"id": "chatcmpl-fb0001", "object": "chat.completion", "created": 1764460800, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal,
                                                 "annotations": []},
                         "logprobs": None, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 812, "completion_tokens": 96, "total_tokens": 908},
            "service_tier": "default", "system_fingerprint": "fp_fake"}


class FakeChatCompletions(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.server.daemon_threads = True  # a slow answer the client gave up on does not hold the shutdown
        self.requests: list[dict[str, Any]] = []
        self.answer = "{}"
        self.refusal: str | None = None
        self.finish_reason = "stop"
        self.delay = 0.0

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
        if method != "POST" or path != "/v1/chat/completions":
            return 404, "application/json", {"error": {"message": f"no route {method} {path}", "type":
                                                       "invalid_request_error", "param": None, "code": None}}
        headers = {k.lower(): v for k, v in headers.items()}
        if not headers.get("authorization", "").startswith("Bearer "):
            return 401, "application/json", {"error": {"message": "missing API key", "type":
                                                       "invalid_request_error", "param": None, "code": None}}
        with self.lock:
            self.requests.append({"headers": headers, "body": json.loads(body)})
        if self.delay:
            time.sleep(self.delay)
        content = None if self.refusal else self.answer
        return 200, "application/json", completion(content, self.refusal, self.finish_reason)
