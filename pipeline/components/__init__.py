"""The plug-ins a stage is built from, one kind per module or package, each chosen by its config group:
judges (`judge=`), labelers (`labeler=`), scorers (`scorer=`), proposers (`proposer=`), rounds (`round=`),
executors (`executor=`) and the gate the verify stage decides with."""
