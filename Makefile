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
run: system-deps $(STAMP)
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

# Debian packages Qt's xcb platform and the real-window test need: each checked on its own.
system-deps:
	@sh tools/system-deps.sh

$(STAMP): pyproject.toml | system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch/torchvision first and pinned: this machine carries these CUDA builds on disk
	$(PIP) install -q "torch==2.14.1" "torchvision==0.29.1"
	$(PIP) install -q -e ".[test]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
