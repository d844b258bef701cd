"""boardsync keeps job postings in sync across job boards.

The postings a company wants live are written once (YAML in git, or rows in a database);
boardsync makes Sorce, Hirempire and RecruitiFi match them and records what it did.
"""

__version__ = "0.1.0"
