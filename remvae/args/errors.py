"""The error every args.json problem is reported as."""

from __future__ import annotations


class ArgsError(ValueError):
    """An args.json that does not validate; one line per problem, each naming the JSON path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


__all__ = ["ArgsError"]
