import time

t0 = time.ticks_ms()  # boot_ms counts from here: before the firmware imports
import hub.app

hub.app.main(t0)
