# The emulated boards' flash driver, built into the Unix port by scripts/build-micropython.sh.
EMUFLASH_MOD_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(EMUFLASH_MOD_DIR)/emuflash.c
