"""nerfstudio dataparsers for multi-view human datasets (ZJU-MoCap, RenderPeople, EasyMocap) and their shared helpers.

Imports nerfstudio only, never ``ghnerf_ns``: nerfstudio imports dataparser entry points while its own registry is
half-initialised, so an import of the method package from here would be a cycle.
"""
