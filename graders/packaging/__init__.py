"""The course as others receive it: the student release, the Gradescope autograder."""
