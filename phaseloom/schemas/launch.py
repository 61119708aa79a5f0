"""A workflow's launch template (from Hephaestus): the form a user fills to start a ticket.

In a workflow file::

    launch_template:
      parameters:
        - {name: bug_title, label: Bug title, type: text}
        - {name: severity, label: Severity, type: dropdown, options: [High, Low], default: Low}
      first_task_prompt: |
        Reproduce "{bug_title}" (severity {severity}).

Each ``{name}`` of a declared parameter in ``first_task_prompt`` (and in ``ticket_title``) is
replaced by its value; other braces are left as written, so prompts may show code.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from phaseloom.domain.launch import LaunchParameter, LaunchTemplate, default_problem

MAX_PARAMETERS = 100


class LaunchParameterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)
    label: str = Field(default="", max_length=200)
    type: Literal["text", "textarea", "dropdown", "number", "boolean"] = "text"
    required: bool = True
    default: str | bool | int | float | None = None
    options: list[str] = Field(default_factory=list, max_length=500)
    description: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _options_and_default_fit(self) -> LaunchParameterSpec:
        if self.type == "dropdown" and not self.options:
            raise ValueError("a dropdown parameter needs options")
        if self.options and self.type != "dropdown":
            raise ValueError(f"options are for dropdown parameters, not {self.type}")
        problem = default_problem(self.to_domain())
        if problem:
            raise ValueError(problem)
        return self

    def to_domain(self) -> LaunchParameter:
        return LaunchParameter(name=self.name, label=self.label, type=self.type, required=self.required,
                               default=self.default, options=tuple(self.options), description=self.description)


class LaunchTemplateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: list[LaunchParameterSpec] = Field(default_factory=list, max_length=MAX_PARAMETERS)
    first_task_prompt: str = Field(min_length=1, max_length=200_000)
    ticket_title: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _names_are_unique(self) -> LaunchTemplateSpec:
        seen: set[str] = set()
        for parameter in self.parameters:
            if parameter.name in seen:
                raise ValueError(f"parameter {parameter.name!r} is declared twice")
            seen.add(parameter.name)
        return self

    def to_domain(self) -> LaunchTemplate:
        return LaunchTemplate(parameters=tuple(p.to_domain() for p in self.parameters),
                              first_task_prompt=self.first_task_prompt, ticket_title=self.ticket_title)


def template_from_settings(settings: dict[str, Any]) -> LaunchTemplate | None:
    """The launch template a stored workflow carries (``settings.launch_template``), if any."""
    raw = (settings or {}).get("launch_template")
    return LaunchTemplateSpec.model_validate(raw).to_domain() if raw else None
