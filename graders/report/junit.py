"""The results model as JUnit XML, for CI systems that show test reports."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from graders.report.results import SubmissionResult


def render_junit(results: list[SubmissionResult]) -> str:
    suites = ET.Element("testsuites")
    for submission in results:
        for stage in submission.stages:
            suite = ET.SubElement(suites, "testsuite", name=f"{submission.submission}:{stage.stage}",
                                  tests=str(len(stage.checks)))
            counts = {"failures": 0, "errors": 0, "skipped": 0}
            for check in stage.checks:
                case = ET.SubElement(suite, "testcase", classname=stage.stage, name=check.title,
                                     time=f"{check.seconds:.3f}")
                detail = "\n".join([check.message, *check.transcript, f"hint: {check.hint}" if check.hint else ""])
                if check.status in ("failed", "timeout"):
                    counts["failures"] += 1
                    ET.SubElement(case, "failure", message=check.message.splitlines()[0] if check.message else check.status).text = detail
                elif check.status == "error":
                    counts["errors"] += 1
                    ET.SubElement(case, "error", message=check.message.splitlines()[0] if check.message else "error").text = detail
                elif check.status == "skipped":
                    counts["skipped"] += 1
                    ET.SubElement(case, "skipped", message=check.message)
            if stage.problem and not stage.checks:
                counts["errors"] += 1
                ET.SubElement(ET.SubElement(suite, "testcase", classname=stage.stage, name="import"),
                              "error", message=stage.problem)
            for key, value in counts.items():
                suite.set(key, str(value))
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
