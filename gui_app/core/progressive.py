"""The progressive (predict-then-learn) accuracy record of a learner."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ProgressiveAccuracy:
    """Accuracy of the predictions made just before each learning step."""

    correct: int = 0
    total: int = 0
    history: list[bool] = field(default_factory=list)

    def update(self, is_correct: bool) -> None:
        """Record one prediction outcome."""
        self.correct += int(is_correct)
        self.total += 1
        self.history.append(bool(is_correct))

    @property
    def accuracy(self) -> float | None:
        """Accuracy over all recorded predictions, ``None`` before the first one."""
        return self.correct / self.total if self.total else None

    def recent(self, n: int = 50) -> float | None:
        """Accuracy of the last ``n`` predictions, ``None`` before the first one."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        tail = self.history[-n:]
        return sum(tail) / len(tail) if tail else None
