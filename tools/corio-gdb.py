# corio-gdb.py - gdb commands for corio programs (x86-64, the assembly switch):
#   corio tasks        the tasks of the selected thread's loop: id, name, state, what each waits on
#   corio bt TASK      a backtrace of a suspended task (TASK: its id or name), by pointing rsp/rip/rbp/rbx/r12-r15
#                      at the frame its context switch saved, then putting the registers back
# Load it with `source tools/corio-gdb.py` (or from ~/.gdbinit). Needs a live process, built with -g.
import gdb

STATES = {0: "ready", 1: "running", 2: "waiting", 3: "done"}
# enum corio__wait in src/internal.h, in order (used when the enum is not in the debug info)
WAITS = ["none", "sleep", "task", "gather", "group", "lock", "event", "semaphore", "condition", "queue put",
         "queue get", "fd readable", "fd writable", "signal", "to_thread", "server", "future", "barrier",
         "queue join", "the first of several tasks", "select"]
# the frame corio__ctx_switch leaves at a suspended task's ctx.sp (src/arch/x86_64.S): 8-byte slots
SAVED = [("r12", 8), ("r13", 16), ("r14", 24), ("r15", 32), ("rbx", 40), ("rbp", 48)]
RESUME_SLOT = 56  # the return address into the scheduler
FRAME_SIZE = 64  # rsp once the switch has returned


def current_loop():
    """The selected thread's corio__loop *, or None when no loop runs in it."""
    try:
        loop = gdb.parse_and_eval("corio__cur")
    except gdb.error:
        # TLS may be unreadable (no libthread_db): ask the program itself
        task = gdb.parse_and_eval("corio_current()")
        if int(task) == 0:
            return None
        loop = loop_of(task.cast(gdb.lookup_type("struct corio_task").pointer()))
    return None if int(loop) == 0 else loop


def loop_of(task):
    """The loop of a live task: every live task of a loop carries the loop's magic, so walking the task's link in
    loop->tasks, the first link whose would-be task has another magic is the list's head, inside the loop."""
    task_t = gdb.lookup_type("struct corio_task")
    loop_t = gdb.lookup_type("struct corio__loop")
    char_p = gdb.lookup_type("char").pointer()
    all_off = next(f.bitpos // 8 for f in task_t.fields() if f.name == "all")
    tasks_off = next(f.bitpos // 8 for f in loop_t.fields() if f.name == "tasks")
    magic = int(task["magic"])
    link = task["all"]["next"]
    while True:
        other = (link.cast(char_p) - all_off).cast(task_t.pointer())
        if int(other["magic"]) != magic:
            return (link.cast(char_p) - tasks_off).cast(loop_t.pointer())
        link = link["next"]


def tasks(loop):
    task_t = gdb.lookup_type("struct corio_task")
    offset = next(f.bitpos // 8 for f in task_t.fields() if f.name == "all")
    head = loop["tasks"].address
    link = loop["tasks"]["next"]
    char_p = gdb.lookup_type("char").pointer()
    while int(link) != int(head):
        yield (link.cast(char_p) - offset).cast(task_t.pointer())
        link = link["next"]


def raw_name(t):
    """The task's name, "" if it has none (the struct holds a pointer, NULL until the task is named)."""
    name = t["name"]
    return name.string() if int(name) else ""


def task_name(t):
    name = raw_name(t)
    return name if name else "(unnamed)"


def wait_text(t):
    kind = int(t["wait_kind"])
    what = WAITS[kind] if kind < len(WAITS) else "kind %d" % kind
    obj = int(t["wait_obj"])
    if what in ("fd readable", "fd writable"):
        return "fd %d %s" % (obj, what.split()[1])
    if what == "signal":
        return "signal %d" % obj
    if what == "task" and obj:
        other = gdb.Value(obj).cast(t.type)
        return 'task "%s" (#%d)' % (task_name(other), int(other["id"]))
    if what == "none":
        return "unknown"
    return what + (" 0x%x" % obj if obj else "")


def find_task(loop, spec):
    for t in tasks(loop):
        if spec == str(int(t["id"])) or spec == raw_name(t):
            return t
    raise gdb.GdbError("corio: no task %r in this loop (see `corio tasks`)" % spec)


class CorioPrefix(gdb.Command):
    """Commands for corio programs: corio tasks, corio bt TASK."""

    def __init__(self):
        super().__init__("corio", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class CorioTasks(gdb.Command):
    """List the tasks of the selected thread's corio loop: id, name, state and what each waits on."""

    def __init__(self):
        super().__init__("corio tasks", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        loop = current_loop()
        if loop is None:
            print("corio: no loop runs in this thread")
            return
        print("corio: %d tasks" % int(loop["ntasks"]))
        for t in tasks(loop):
            state = STATES.get(int(t["state"]), "?")
            line = '  #%d "%s" %s' % (int(t["id"]), task_name(t), state)
            if state == "waiting":
                line += " on " + wait_text(t)
            print(line)


class CorioBt(gdb.Command):
    """Backtrace of a suspended corio task: corio bt TASK (its id or name) [bt options, e.g. full]."""

    def __init__(self):
        super().__init__("corio bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        if not args:
            raise gdb.GdbError("usage: corio bt TASK [full]")
        if gdb.selected_inferior().architecture().name() != "i386:x86-64":
            raise gdb.GdbError("corio bt: only x86-64 is supported")
        loop = current_loop()
        if loop is None:
            raise gdb.GdbError("corio: no loop runs in this thread")
        t = find_task(loop, args[0])
        state = STATES.get(int(t["state"]), "?")
        if int(t) == int(loop["current"]) or state in ("running", "done") or not bool(t["started"]):
            raise gdb.GdbError('corio bt: task "%s" is %s, not suspended%s' % (
                task_name(t), state if bool(t["started"]) else "not started",
                " (use bt)" if state == "running" else ""))
        try:
            sp = int(t["ctx"]["sp"])
        except gdb.error:
            raise gdb.GdbError("corio bt: built with the ucontext switch, which this command does not read")
        u64 = gdb.lookup_type("unsigned long").pointer()
        slot = lambda off: int(gdb.Value(sp + off).cast(u64).dereference())
        gdb.execute("frame 0", to_string=True)  # registers are set in the innermost frame
        regs = ["rsp", "rip"] + [r for r, _ in SAVED]
        saved = {r: int(gdb.parse_and_eval("$" + r)) for r in regs}
        print('corio: task #%d "%s" (%s):' % (int(t["id"]), task_name(t), state))
        try:
            for r, off in SAVED:
                gdb.execute("set $%s = %d" % (r, slot(off)), to_string=True)
            gdb.execute("set $rip = %d" % slot(RESUME_SLOT), to_string=True)
            gdb.execute("set $rsp = %d" % (sp + FRAME_SIZE), to_string=True)
            gdb.execute("bt " + " ".join(args[1:]))
        finally:
            gdb.execute("frame 0", to_string=True)
            for r in regs:
                gdb.execute("set $%s = %d" % (r, saved[r]), to_string=True)


CorioPrefix()
CorioTasks()
CorioBt()
