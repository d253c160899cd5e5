/*
 * Minimal stand-in for bcryptprimitives.dll, for running Windows test
 * executables under Wine versions that do not ship it (Wine 8.x, as packaged
 * by Debian 12).
 *
 * Rust's standard library (1.78+) imports ProcessPrng from
 * bcryptprimitives.dll to seed HashMap's RandomState and similar; without
 * this DLL every Rust executable fails to load under such a Wine with
 * "c0000135" (STATUS_DLL_NOT_FOUND).
 *
 * ProcessPrng is implemented with RtlGenRandom (advapi32!SystemFunction036),
 * which Wine does implement. Real Windows is never affected: the DLL is only
 * installed into the Wine prefix used by ci/wine-runner.sh.
 */
#include <windows.h>

/* RtlGenRandom's real export name; declared here because <ntsecapi.h> only
 * maps the name through a macro. */
BOOLEAN WINAPI SystemFunction036(PVOID RandomBuffer, ULONG RandomBufferLength);

/* Documented signature: BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData).
 * Always returns TRUE on Windows; fail loudly here instead of returning
 * non-random bytes. */
BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData)
{
    /* RtlGenRandom takes a ULONG length: feed large requests in chunks. */
    while (cbData > 0) {
        ULONG chunk = cbData > 0x10000000 ? 0x10000000 : (ULONG)cbData;
        if (!SystemFunction036(pbData, chunk)) {
            /* Same reaction as the real ProcessPrng on an unrecoverable
             * error: terminate rather than hand out predictable bytes. */
            RaiseFailFastException(NULL, NULL, 0);
            return FALSE;
        }
        pbData += chunk;
        cbData -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH)
        DisableThreadLibraryCalls(inst);
    return TRUE;
}
