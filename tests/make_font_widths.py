#!/usr/bin/env python3
"""tests/make_font_widths.py: print the advance widths of printable ASCII in DejaVu Sans (regular and bold), in
1/1000 em, as the C++ table in src/train/svg_layout.cpp. DejaVu Sans is what fontconfig gives "sans-serif" on
Debian (the SVGs name sans-serif), and it is the widest of the common sans fonts (Arial, Helvetica and Liberation
Sans are narrower), so a layout sized by these widths fits in a browser too. Run once; needs python3-pil and
fonts-dejavu-core:
    python3 tests/make_font_widths.py
"""
from PIL import ImageFont

EM = 1000  # rendered at 1000 px: getlength is then the advance width in 1/1000 em
for style, path in (("regular", "DejaVuSans.ttf"), ("bold", "DejaVuSans-Bold.ttf")):
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/" + path, EM)
    widths = [round(font.getlength(chr(c))) for c in range(32, 127)]
    print(f"// {style}: ' ' (32) to '~' (126)")
    for i in range(0, len(widths), 16):
        print("    " + ", ".join(str(w) for w in widths[i:i + 16]) + ",")
