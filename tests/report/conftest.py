import pytest
from _reportkit import make_report

from unsure.report.model import Report


@pytest.fixture
def report() -> Report:
    return make_report()
