"""Prompt templates run sandboxed: no dunder access, no file or module access, no mutation."""

from __future__ import annotations

import pytest

from synthspace.node.recipes import PromptRenderer, TemplateRenderError, parse_recipe
from tests.node.generate.conftest import TINY_RECIPE


def _renderer(template: str) -> PromptRenderer:
    text = TINY_RECIPE.replace(
        "  template: |\n    Topic: {{ seed.topic }}. Fact: {{ seed.fact }}.{% if persona %} Asked by someone from {{ persona.region }}.{% endif %}\n    Write one short question and answer about the topic as JSON.\n",
        "  template: " + repr(template).replace("\\\\", "\\") + "\n",
    )
    assert text != TINY_RECIPE
    return PromptRenderer(parse_recipe(text))


SEED = {"topic": "t", "fact": "f"}


def test_normal_rendering_sees_seed_persona_and_recipe() -> None:
    r = _renderer("{{ seed.topic }}|{{ persona.region }}|{{ recipe.task }}|{{ recipe.output_field_names | join(',') }}")
    content = r.render(SEED, {"region": "north"})[-1]["content"]
    rendered, _, instructions = content.partition("\n\n")
    assert rendered == "t|north|tiny_qa|question,answer,level,score"
    # The output fields are spelled out for the model after the template (output_format: append).
    assert instructions.startswith("Answer with one JSON object with exactly these fields:")
    assert [line.split(" ")[1] for line in instructions.splitlines()[1:]] == ["question", "answer", "level", "score"]


def test_output_format_none_leaves_the_template_alone() -> None:
    text = TINY_RECIPE.replace("  template: |", "  output_format: none\n  template: |")
    assert text != TINY_RECIPE
    content = PromptRenderer(parse_recipe(text)).render(SEED, None)[-1]["content"]
    assert "Answer with one JSON object" not in content and content.startswith("Topic: t. Fact: f.")


@pytest.mark.parametrize(
    "template",
    [
        "{{ seed.__class__ }}",
        "{{ seed.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ namespace.__init__.__globals__['sys'] }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ self._TemplateReference__context }}",
        "{{ seed.update({'topic': 'x'}) }}",
        "{{ recipe.tags.append('x') }}",
        "{{ range.__self__ }}",
        "{{ seed.items.__self__.__class__ }}",
    ],
)
def test_forbidden_operations_raise(template: str) -> None:
    with pytest.raises(TemplateRenderError):
        _renderer(template).render(SEED, None)


@pytest.mark.parametrize(
    "template",
    ["{{ open('/etc/passwd').read() }}", "{% include '/etc/passwd' %}", "{% import 'os' as os %}{{ os }}",
     "{{ config }}", "{{ request }}", "{{ __import__('os') }}", "{{ url_for }}"],
)
def test_no_host_functions_or_files(template: str) -> None:
    with pytest.raises(TemplateRenderError):
        _renderer(template).render(SEED, None)


def test_undefined_variables_fail_instead_of_rendering_empty() -> None:
    with pytest.raises(TemplateRenderError, match="tpoic"):
        _renderer("{{ seed.tpoic }}").render(SEED, None)


def test_huge_ranges_are_refused() -> None:
    with pytest.raises(TemplateRenderError):
        _renderer("{% for i in range(10**9) %}x{% endfor %}").render(SEED, None)


def test_rendering_does_not_mutate_inputs() -> None:
    seed = {"topic": "t", "fact": "f"}
    _renderer("{{ seed.topic }}").render(seed, None)
    assert seed == {"topic": "t", "fact": "f"}
