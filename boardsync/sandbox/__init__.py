"""The sandbox: faithful simulators of Sorce, Hirempire and RecruitiFi as real HTTP servers on
loopback, with a clock that can be moved and faults that can be injected. It imports nothing
else of boardsync: it plays the boards' side."""
