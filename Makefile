# Two commands: `make run` sets up and starts the app, `make test` sets up and passes the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
export QT_QPA_PLATFORM ?= offscreen
export MFDV_DATA_DIR ?= $(abspath ../shared/datasets)

.PHONY: run demo test screenshots setup system-deps clean

# the desktop workbench (a demo project in the user data folder when none is given)
run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		unset QT_QPA_PLATFORM; $(VENV)/bin/mfdv-studio $(PROJECT); \
	else \
		echo "no display (DISPLAY is unset): running the headless demo instead of the window"; \
		$(VENV)/bin/mfdv train --preset demo-lenet-mfdv --device cpu --project demo.mfdv.h5; \
	fi

# headless: one epoch of LeNet-MFDV on the embedded demo set, offline
demo: $(STAMP)
	$(VENV)/bin/mfdv train --preset demo-lenet-mfdv --device cpu --project demo.mfdv.h5

screenshots: $(STAMP)
	$(PY) tools/screenshots.py

test: $(STAMP)
	$(PY) -m pytest -q

setup: $(STAMP)

# Debian packages the Qt tests need (libGL, xcb, fonts); skipped when already present or not root.
system-deps:
	@if [ -x /usr/bin/apt-get ] && [ "$$(id -u)" = 0 ] && ! ldconfig -p | grep -q libEGL.so.1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		  libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
		  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 \
		  libxcb-randr0 libxcb-render-util0 libxcb-image0 xvfb >/dev/null; \
	fi

$(STAMP): pyproject.toml | system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch/torchvision first and pinned: this machine carries these CUDA builds on disk
	$(PIP) install -q "torch==2.14.1" "torchvision==0.29.1"
	$(PIP) install -q -e ".[test]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
