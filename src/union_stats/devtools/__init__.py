"""What the project is measured and tried with, apart from the run-time code: `bench` (`union-stats bench`) and
`sample` (`union-stats sample`: the 18 real units' sample workbooks, or N synthetic ones).

No run-time module imports this package (tests/test_structure.py); only their two commands do.
"""
