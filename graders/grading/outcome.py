"""How a check's outcome becomes its result: the one place these rules live, for pytest and notebooks alike.

Whoever runs a check — the pytest plugin for `tcplab check` and `tcplab grade`, a notebook's
grade cell — says what happened as an `Outcome` and asks `result_of` for the CheckResult:

- it returned: "passed", the check's points;
- it raised a `Failure` (or a kind of it): the student's mistake, with the failure's own
  status ("failed", "timeout" for CallTimedOut, "error" for CodeError), its details
  (message, expected, got) and its hint, else the check's;
- it raised anything else, or its set-up broke before it ran: a fault of the grader,
  "error", said plainly apart from the student's mistakes (check50's rule);
- it was still running at its backstop: "timeout";
- it never ran, because a check it depends on did not pass: "skipped", with no hint.

Whatever did not pass keeps the transcript of what crossed the wire (even after a
timeout), what its calls printed (apart from the message), and the seed of the injected short reads and writes when there were any, so
that the failure can be replayed. Pytest-free: notebooks use it without pytest.
"""

from __future__ import annotations

from dataclasses import dataclass

from graders.checking.declare import CheckSpec, CodeError, Failure
from graders.checking.lab import Lab, printed_text
from graders.report.results import CheckResult

RETURNED, RAISED, SET_UP_FAILED, RAN_PAST_BACKSTOP, SKIPPED = (
    "returned", "raised", "set-up failed", "ran past its backstop", "skipped")


@dataclass(frozen=True)
class Outcome:
    """What happened to one check, as whoever ran it saw it. Make one with the functions below."""

    kind: str
    error: BaseException | None = None
    where: str = ""  # where a grader fault was raised, " (file, line N)", when the runner knows
    reason: str = ""  # why a skipped check never ran


def returned() -> Outcome:
    return Outcome(RETURNED)


def raised(error: BaseException, where: str = "") -> Outcome:
    """The check raised `error`: a Failure is the student's, anything else the grader's."""
    return Outcome(RAISED, error, where)


def set_up_failed(error: BaseException | None, where: str = "") -> Outcome:
    """The check never started because its set-up broke: always the grader's fault."""
    return Outcome(SET_UP_FAILED, error, where)


def ran_past_backstop() -> Outcome:
    return Outcome(RAN_PAST_BACKSTOP)


def skipped(reason: str) -> Outcome:
    return Outcome(SKIPPED, reason=reason)


def needs_message(title: str) -> str:
    """Why a check is skipped: the title of the check it depends on, which did not pass."""
    return f"skipped: it needs “{title}”, which did not pass"


def grader_fault(error: BaseException | None, where: str = "") -> str:
    """A check that broke for a reason other than the student's code: say so plainly."""
    return (f"the grader ran into an error, not your code's fault: {type(error).__name__}: {error}{where}. "
            "Please tell your instructor.")


def backstop_message(spec: CheckSpec) -> str:
    return f"the check did not finish within its {spec.backstop:g} s backstop"


def result_of(outcome: Outcome, spec: CheckSpec, *, id: str, hidden: bool, lab: Lab | None = None,
              seconds: float = 0.0, module_file: str = "") -> CheckResult:
    """The CheckResult of `outcome` for the check `spec` (its id "<stage>.<name>").

    `lab` is the check's Lab, if it got one (its transcript and seed are kept for a check
    that did not pass); `module_file`, "<stage>/<file>.py" where a script submission keeps
    the student's module: a CodeError saying it was not found then hints at creating it.
    """
    status, message, failure = _status_and_message(outcome, spec)
    passed = status == "passed"
    hint = ""
    if not passed and status != "skipped":
        hint = failure.hint if failure is not None and failure.hint else spec.hint
        if module_file and isinstance(failure, CodeError) and "not found" in message:
            hint = f"Create {module_file} (copy the stub from the course's exercises/)."
    return CheckResult(
        id=id, title=spec.title, status=status,
        score=spec.points if passed else 0.0, max_score=spec.points, hidden=hidden,
        message=message, hint=hint,
        transcript=lab.transcript.lines() if lab is not None and not passed else [],
        seed=lab.seed if lab is not None and lab.faults_used and not passed else None,
        printed=printed_text(lab.printed) if lab is not None and not passed else "",
        seconds=seconds,
    )


def _status_and_message(outcome: Outcome, spec: CheckSpec) -> tuple[str, str, Failure | None]:
    if outcome.kind == RETURNED:
        return "passed", "", None
    if outcome.kind == SKIPPED:
        return "skipped", outcome.reason, None
    if outcome.kind == RAN_PAST_BACKSTOP:
        return "timeout", backstop_message(spec), None
    if outcome.kind == RAISED and isinstance(outcome.error, Failure):
        return outcome.error.status, outcome.error.details(), outcome.error
    return "error", grader_fault(outcome.error, outcome.where), None
