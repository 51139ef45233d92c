"""Lesion quantification: myocardium, remote reference, lesion classes, burden per region.

Every function works on plain arrays in crop space, (slice, y, x), with the pixel spacing passed
explicitly in mm; `cine2lge.quantify.subject` adds the stage's file formats on top.
"""
