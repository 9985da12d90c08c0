"""What a check touches: the @check decorator, the lab, the reference peers, the wire formats
and the transcript. Check files reach all of it through graders.api."""
