/* Looks like a Python 3.10 interpreter to `layertrace attach` (it exports the two symbols the
 * attach checks read) without being one: the test of the "unsupported interpreter" error. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

const unsigned long Py_Version = 0x030A0CF0UL; /* 3.10.12 final */

const char* Py_GetVersion(void) { return "3.10.12 (fake, for layertrace's attach tests)"; }

static volatile sig_atomic_t g_stop = 0;
static void onTerm(int sig) { (void)sig; g_stop = 1; }

int main(void) {
    signal(SIGTERM, onTerm);
    printf("ready %s\n", Py_GetVersion());
    fflush(stdout);
    while (!g_stop) {
        pause();
    }
    printf("stopped cleanly\n");
    return 0;
}
