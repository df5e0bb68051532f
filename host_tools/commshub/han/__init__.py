"""Host-side HAN device emulators (ESME, GSME, PPMID) on bellows' raw EZSP and zigpy's ZCL.

docs/HAN_DEVICES.md describes the models. Modules: `clusters` (the Smart Energy
clusters zigpy leaves empty), `zcl` (frames and attribute tables).
"""
