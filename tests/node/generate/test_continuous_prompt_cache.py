"""The continuous scheduler's kept prompt KV: lookups, shared prefixes and its byte bound."""

from __future__ import annotations

from synthspace.node.generate.backends.continuous import PromptCache, _Prefilled


def _entry(ids: tuple[int, ...], nbytes: int = 10) -> _Prefilled:
    return _Prefilled(ids=ids, kv=[], logits=None, nbytes=nbytes)


def test_whole_prompt_and_longest_shared_prefix() -> None:
    cache = PromptCache(max_bytes=100)
    cache.put(_entry((1, 2, 3, 4)))
    cache.put(_entry((1, 2, 9)))
    assert cache.get((1, 2, 3, 4)) is not None and cache.get((1, 2, 3)) is None
    entry, n = cache.longest_prefix((1, 2, 3, 7))
    assert entry is not None and entry.ids == (1, 2, 3, 4) and n == 3
    assert cache.longest_prefix((5, 6)) == (None, 0)


def test_least_recently_used_prompts_leave_first_past_the_byte_bound() -> None:
    cache = PromptCache(max_bytes=30)
    for i in range(3):
        cache.put(_entry((i,)))
    cache.get((0,))  # used again: now the most recent
    cache.put(_entry((3,)))
    assert len(cache) == 3 and cache.bytes == 30
    assert cache.get((1,)) is None and cache.get((0,)) is not None
    cache.put(_entry((4,), nbytes=31))  # larger than the bound: not kept
    assert cache.get((4,)) is None and cache.bytes == 30
