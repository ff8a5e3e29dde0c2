"""Chinese prose wraps between characters (no spaces to wrap at), never inside a Latin token, never before a
closing mark; widths are display columns."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from tuner.helptext import wrap

TEXT = (
    "限制 Chatchat 自己的 httpx 调用，但不限制对模型的调用：每个请求都用 openai 的默认值新建 OpenAI 客户端"
    "（读取超时 600 秒，重试 2 次），所以 api_timeout=120 不会生效。"
)


def columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_chinese_wraps_between_characters_within_the_width() -> None:
    lines = wrap(TEXT, 40, "", "    ")
    assert len(lines) > 1 and all(columns(line) <= 40 for line in lines)
    assert "".join(line.strip().replace(" ", "") for line in lines) == TEXT.replace(" ", "")
    tokens = {t for t in TEXT.split() if t.isascii()}
    assert tokens <= {t for line in lines for t in line.split()}  # every Latin token whole
    assert not any(line.strip()[0] in "，。）：" for line in lines[1:])  # no line starts with a closing mark


def test_english_keeps_the_plain_space_wrapping() -> None:
    assert wrap("a b " * 30, 20) == wrap("a b " * 30, 20, "", "")
    assert all(len(line) <= 20 for line in wrap("word " * 40, 20))


@given(
    st.lists(
        st.sampled_from(["知识库", "模型平台", "超时", "api_timeout=60", "，", "。", "（", "）", "Ollama"])
    )
)
def test_nothing_is_lost_or_reordered(parts: list[str]) -> None:
    text = " ".join(parts)
    lines = wrap(text, 24, "", "  ")
    assert "".join(line.replace(" ", "") for line in lines) == text.replace(" ", "")
