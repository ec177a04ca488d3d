"""What the collector and the API share: the failures both report, classified once
(`spantally.common.errors`)."""
