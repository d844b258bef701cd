"""What the pull-request check needs beside the command line: the sticky plan comment that the
GitHub Action (``action.yml``) and the GitLab CI template post. Imports nothing of boardsync."""
