"""Placeholder until the segmentor work lands; replaced by SegDataPreProcessor."""
SegDataPreProcessor = None
