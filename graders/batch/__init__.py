"""Many submissions at once (`tcplab grade`): intake, a walled grading child per submission,
the gradebook, and exports."""
