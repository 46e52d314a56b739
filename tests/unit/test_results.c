/* Test results and compiler warnings (results.h).
 *
 * The fixtures are real outputs, captured from the tools on Debian 12 from tiny projects (each
 * has passing, failing, erroring and skipped tests): pytest 7.2.1 (--junitxml, with and without
 * -o junit_logging=all), CMake 3.25.1 (ctest --output-junit), meson 1.0.1 (meson test and its
 * testlog.junit.xml), go 1.26 (go test -json, with a package whose test binary does not build,
 * and a test that runs into -timeout), cargo 1.95 (a library and an integration test), Python
 * 3.11 unittest, node 20 (node --test --test-reporter=tap), gcc 12.2 (plain, and with colours
 * and links forced) and clang 14.  The formats no tool here prints (automake, dotnet, jest) are
 * written as those tools' documentation shows them.  The rest is hostile input.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "validate/results.h"
#include "tars/cleanup.h"

/* ----- captured outputs ----- */

/* pytest_junit */
static const char pytest_junit[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites><testsuite name=\"pytest\" errors=\"1\" "
    "failures=\"3\" skipped=\"1\" tests=\"8\" time=\"0.031\" "
    "timestamp=\"2026-11-25T18:03:48.593297\" hostname=\"vm\"><testcase classname=\"test_x\" "
    "name=\"test_ok\" time=\"0.000\" /><testcase classname=\"test_x\" name=\"test_ok2\" "
    "time=\"0.000\" /><testcase classname=\"test_x\" name=\"test_fail\" time=\"0.000\"><failure "
    "message=\"AssertionError: numbers differ&#10;assert 1 == 2\">def test_fail():\n"
    "        print(\"some stdout\")\n"
    "&gt;       assert 1 == 2, \"numbers differ\"\n"
    "E       AssertionError: numbers differ\n"
    "E       assert 1 == 2\n"
    "\n"
    "test_x.py:6: AssertionError</failure></testcase><testcase classname=\"test_x\" "
    "name=\"test_err_fixture\" time=\"0.000\"><error message=\"failed on setup with "
    "&quot;RuntimeError: fixture broke&quot;\">@pytest.fixture\n"
    "&gt;   def bad(): raise RuntimeError(\"fixture broke\")\n"
    "E   RuntimeError: fixture broke\n"
    "\n"
    "test_x.py:9: RuntimeError</error></testcase><testcase classname=\"test_x\" name=\"test_skip\" "
    "time=\"0.000\"><skipped type=\"pytest.skip\" message=\"nope\">/tmp/rs/py/test_x.py:10: "
    "nope</skipped></testcase><testcase classname=\"test_x.TestK\" name=\"test_m\" "
    "time=\"0.000\"><failure message=\"assert False\">self = &lt;test_x.TestK object at "
    "0x7ff9a7b98f90&gt;\n"
    "\n"
    "&gt;   def test_m(self): assert False\n"
    "E   assert False\n"
    "\n"
    "test_x.py:13: AssertionError</failure></testcase><testcase classname=\"test_x\" "
    "name=\"test_p[1]\" time=\"0.000\" /><testcase classname=\"test_x\" name=\"test_p[2]\" "
    "time=\"0.001\"><failure message=\"assert 2 == 1\">x = 2\n"
    "\n"
    "    @pytest.mark.parametrize(\"x\", [1, 2])\n"
    "&gt;   def test_p(x): assert x == 1\n"
    "E   assert 2 == 1\n"
    "\n"
    "test_x.py:15: AssertionError</failure></testcase></testsuite></testsuites>";

/* pytest_junit_logging */
static const char pytest_junit_logging[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites><testsuite name=\"pytest\" errors=\"1\" "
    "failures=\"3\" skipped=\"1\" tests=\"8\" time=\"0.032\" "
    "timestamp=\"2026-11-25T18:03:51.906324\" hostname=\"vm\"><testcase classname=\"test_x\" "
    "name=\"test_ok\" time=\"0.000\"><system-out>--------------------------------- Captured Log "
    "---------------------------------\n"
    "\n"
    "--------------------------------- Captured Out ---------------------------------\n"
    "\n"
    "</system-out><system-err>--------------------------------- Captured Err "
    "---------------------------------\n"
    "\n"
    "</system-err></testcase><testcase classname=\"test_x\" name=\"test_ok2\" "
    "time=\"0.000\"><system-out>--------------------------------- Captured Log "
    "---------------------------------\n"
    "\n"
    "--------------------------------- Captured Out ---------------------------------\n"
    "\n"
    "</system-out><system-err>--------------------------------- Captured Err "
    "---------------------------------\n"
    "\n"
    "</system-err></testcase><testcase classname=\"test_x\" name=\"test_fail\" "
    "time=\"0.000\"><failure message=\"AssertionError: numbers differ&#10;assert 1 == 2\">def "
    "test_fail():\n"
    "        print(\"some stdout\")\n"
    "&gt;       assert 1 == 2, \"numbers differ\"\n"
    "E       AssertionError: numbers differ\n"
    "E       assert 1 == 2\n"
    "\n"
    "test_x.py:6: AssertionError</failure><system-out>--------------------------------- Captured "
    "Log ---------------------------------\n"
    "\n"
    "--------------------------------- Captured Out ---------------------------------\n"
    "some stdout\n"
    "\n"
    "</system-out><system-err>--------------------------------- Captured Err "
    "---------------------------------\n"
    "\n"
    "</system-err></testcase><testcase classname=\"test_x\" name=\"test_err_fixture\" "
    "time=\"0.000\"><error message=\"failed on setup with &quot;RuntimeError: fixture "
    "broke&quot;\">@pytest.fixture\n"
    "&gt;   def bad(): raise RuntimeError(\"fixture broke\")\n"
    "E   RuntimeError: fixture broke\n"
    "\n"
    "test_x.py:9: RuntimeError</error><system-out>--------------------------------- Captured Log "
    "---------------------------------\n"
    "\n"
    "--------------------------------- Captured Out ---------------------------------\n"
    "\n"
    "</system-out><system-err>--------------------------------- Captured Err "
    "---------------------------------\n"
    "\n"
    "</system-err></testcase><testcase classname=\"test_x\" name=\"test_skip\" "
    "time=\"0.000\"><skipped type=\"pytest.skip\" message=\"nope\">/tmp/rs/py/test_x.py:10: "
    "nope</skipped><system-out>--------------------------------- Captured Log "
    "---------------------------------\n"
    "\n"
    "--------------------------------- Captured Out ---------------------------------\n"
    "\n"
    "</system-out><system-err>--------------------------------- Captured Err "
    "---------------------------------\n"
    "\n"
    "</system-err><system-out>--------------------------------- Captured Log "
    "---------------------------------\n"
    "\n"
    "--------------------------------- Captured Out ---------------------------------\n"
    "\n"
    "</system-out><system-err>--------------------------------- Captured Err "
    "---------------------------------\n"
    "\n"
    "</system-err></testcase><testcase classname=\"test_x.TestK\" name=\"test_m\" "
    "time=\"0.000\"><failure message=\"assert False\">self = &lt;test_x.TestK object at "
    "0x7f816f8470d0&gt;\n"
    "\n"
    "&gt;   def test_m(self): assert False\n"
    "E   assert False\n"
    "\n"
    "test_x.py:13: AssertionError</failure><system-out>--------------------------------- Captured "
    "Log ---------------------------------\n"
    "\n"
    "--------------------------------- Captured Out ---------------------------------\n"
    "\n"
    "</system-out><system-err>--------------------------------- Captured Err "
    "---------------------------------\n"
    "\n"
    "</system-err></testcase><testcase classname=\"test_x\" name=\"test_p[1]\" "
    "time=\"0.000\"><system-out>--------------------------------- Captured Log "
    "---------------------------------\n"
    "\n"
    "--------------------------------- Captured Out ---------------------------------\n"
    "\n"
    "</system-out><system-err>--------------------------------- Captured Err "
    "---------------------------------\n"
    "\n"
    "</system-err></testcase><testcase classname=\"test_x\" name=\"test_p[2]\" "
    "time=\"0.000\"><failure message=\"assert 2 == 1\">x = 2\n"
    "\n"
    "    @pytest.mark.parametrize(\"x\", [1, 2])\n"
    "&gt;   def test_p(x): assert x == 1\n"
    "E   assert 2 == 1\n"
    "\n"
    "test_x.py:15: AssertionError</failure><system-out>--------------------------------- Captured "
    "Log ---------------------------------\n"
    "\n"
    "--------------------------------- Captured Out ---------------------------------\n"
    "\n"
    "</system-out><system-err>--------------------------------- Captured Err "
    "---------------------------------\n"
    "\n"
    "</system-err></testcase></testsuite></testsuites>";

/* pytest_text */
static const char pytest_text[] =
    "============================= test session starts ==============================\n"
    "platform linux -- Python 3.11.2, pytest-7.2.1, pluggy-1.0.0+repack\n"
    "rootdir: /tmp/rs/py\n"
    "collected 8 items\n"
    "\n"
    "test_x.py ..FEsF.F                                                       [100%]\n"
    "\n"
    "==================================== ERRORS ====================================\n"
    "______________________ ERROR at setup of test_err_fixture ______________________\n"
    "\n"
    "    @pytest.fixture\n"
    ">   def bad(): raise RuntimeError(\"fixture broke\")\n"
    "E   RuntimeError: fixture broke\n"
    "\n"
    "test_x.py:9: RuntimeError\n"
    "=================================== FAILURES ===================================\n"
    "__________________________________ test_fail ___________________________________\n"
    "\n"
    "    def test_fail():\n"
    "        print(\"some stdout\")\n"
    ">       assert 1 == 2, \"numbers differ\"\n"
    "E       AssertionError: numbers differ\n"
    "E       assert 1 == 2\n"
    "\n"
    "test_x.py:6: AssertionError\n"
    "----------------------------- Captured stdout call -----------------------------\n"
    "some stdout\n"
    "_________________________________ TestK.test_m _________________________________\n"
    "\n"
    "self = <test_x.TestK object at 0x7ff9a7b98f90>\n"
    "\n"
    ">   def test_m(self): assert False\n"
    "E   assert False\n"
    "\n"
    "test_x.py:13: AssertionError\n"
    "__________________________________ test_p[2] ___________________________________\n"
    "\n"
    "x = 2\n"
    "\n"
    "    @pytest.mark.parametrize(\"x\", [1, 2])\n"
    ">   def test_p(x): assert x == 1\n"
    "E   assert 2 == 1\n"
    "\n"
    "test_x.py:15: AssertionError\n"
    "-------------------- generated xml file: /tmp/rs/py/out.xml --------------------\n"
    "=========================== short test summary info ============================\n"
    "FAILED test_x.py::test_fail - AssertionError: numbers differ\n"
    "FAILED test_x.py::TestK::test_m - assert False\n"
    "FAILED test_x.py::test_p[2] - assert 2 == 1\n"
    "ERROR test_x.py::test_err_fixture - RuntimeError: fixture broke\n"
    "=============== 3 failed, 3 passed, 1 skipped, 1 error in 0.03s ================\n";

/* ctest_junit */
static const char ctest_junit[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<testsuite name=\"(empty)\"\n"
    "\ttests=\"7\"\n"
    "\tfailures=\"2\"\n"
    "\tdisabled=\"1\"\n"
    "\tskipped=\"2\"\n"
    "\thostname=\"\"\n"
    "\ttime=\"1\"\n"
    "\ttimestamp=\"2026-11-25T18:04:25\"\n"
    "\t>\n"
    "\t<testcase name=\"ok1\" classname=\"ok1\" time=\"0.00199749\" status=\"run\">\n"
    "\t\t<system-out></system-out>\n"
    "\t</testcase>\n"
    "\t<testcase name=\"ok2\" classname=\"ok2\" time=\"0.00148019\" status=\"run\">\n"
    "\t\t<system-out>hello\n"
    "</system-out>\n"
    "\t</testcase>\n"
    "\t<testcase name=\"bad\" classname=\"bad\" time=\"0.00137375\" status=\"fail\">\n"
    "\t\t<failure message=\"\"/>\n"
    "\t\t<system-out>it &lt;broke&gt; &amp; failed\n"
    "err\n"
    "</system-out>\n"
    "\t</testcase>\n"
    "\t<testcase name=\"skipme\" classname=\"skipme\" time=\"0.00136766\" status=\"notrun\">\n"
    "\t\t<skipped message=\"SKIP_RETURN_CODE=77\"/>\n"
    "\t\t<system-out></system-out>\n"
    "\t</testcase>\n"
    "\t<testcase name=\"missing\" classname=\"missing\" time=\"0\" status=\"notrun\">\n"
    "\t\t<skipped message=\"Unable to find executable\"/>\n"
    "\t\t<system-out>Unable to find executable: /nonexistent/prog</system-out>\n"
    "\t</testcase>\n"
    "\t<testcase name=\"disabled\" classname=\"disabled\" time=\"0\" status=\"disabled\">\n"
    "\t\t<system-out>Disabled</system-out>\n"
    "\t</testcase>\n"
    "\t<testcase name=\"slow\" classname=\"slow\" time=\"1.00192\" status=\"fail\">\n"
    "\t\t<failure message=\"\"/>\n"
    "\t\t<system-out></system-out>\n"
    "\t</testcase>\n"
    "</testsuite>\n";

/* ctest_text */
static const char ctest_text[] =
    "Test project /tmp/rs/ct/b\n"
    "    Start 1: ok1\n"
    "1/7 Test #1: ok1 ..............................   Passed    0.00 sec\n"
    "    Start 2: ok2\n"
    "2/7 Test #2: ok2 ..............................   Passed    0.00 sec\n"
    "    Start 3: bad\n"
    "3/7 Test #3: bad ..............................***Failed    0.00 sec\n"
    "    Start 4: skipme\n"
    "4/7 Test #4: skipme ...........................***Skipped   0.00 sec\n"
    "    Start 5: missing\n"
    "Could not find executable /nonexistent/prog\n"
    "Looked in the following places:\n"
    "/nonexistent/prog\n"
    "/nonexistent/prog\n"
    "/nonexistent/Release/prog\n"
    "/nonexistent/Release/prog\n"
    "/nonexistent/Debug/prog\n"
    "/nonexistent/Debug/prog\n"
    "/nonexistent/MinSizeRel/prog\n"
    "/nonexistent/MinSizeRel/prog\n"
    "/nonexistent/RelWithDebInfo/prog\n"
    "/nonexistent/RelWithDebInfo/prog\n"
    "/nonexistent/Deployment/prog\n"
    "/nonexistent/Deployment/prog\n"
    "/nonexistent/Development/prog\n"
    "/nonexistent/Development/prog\n"
    "nonexistent/prog\n"
    "nonexistent/prog\n"
    "nonexistent/Release/prog\n"
    "nonexistent/Release/prog\n"
    "nonexistent/Debug/prog\n"
    "nonexistent/Debug/prog\n"
    "nonexistent/MinSizeRel/prog\n"
    "nonexistent/MinSizeRel/prog\n"
    "nonexistent/RelWithDebInfo/prog\n"
    "nonexistent/RelWithDebInfo/prog\n"
    "nonexistent/Deployment/prog\n"
    "nonexistent/Deployment/prog\n"
    "nonexistent/Development/prog\n"
    "nonexistent/Development/prog\n"
    "Unable to find executable: /nonexistent/prog\n"
    "5/7 Test #5: missing ..........................***Not Run   0.00 sec\n"
    "    Start 6: disabled\n"
    "6/7 Test #6: disabled .........................***Not Run (Disabled)   0.00 sec\n"
    "    Start 7: slow\n"
    "7/7 Test #7: slow .............................***Timeout   1.00 sec\n"
    "\n"
    "50% tests passed, 3 tests failed out of 6\n"
    "\n"
    "Total Test time (real) =   1.01 sec\n"
    "\n"
    "The following tests did not run:\n"
    "\t  4 - skipme (Skipped)\n"
    "\t  6 - disabled (Disabled)\n"
    "\n"
    "The following tests FAILED:\n"
    "\t  3 - bad (Failed)\n"
    "\t  5 - missing (Not Run)\n"
    "\t  7 - slow (Timeout)\n"
    "Errors while running CTest\n"
    "Output from these tests are in: /tmp/rs/ct/b/Testing/Temporary/LastTest.log\n"
    "Use \"--rerun-failed --output-on-failure\" to re-run the failed cases verbosely.\n";

/* meson_junit */
static const char meson_junit[] =
    "<?xml version='1.0' encoding='utf-8'?>\n"
    "<testsuites tests=\"8\" errors=\"0\" failures=\"2\"><testsuite name=\"t\" tests=\"5\" "
    "errors=\"0\" failures=\"1\" skipped=\"1\" time=\"0.008883953094482422\"><testcase "
    "name=\"ok1\" classname=\"t\" time=\"0.008883953094482422\" /><testcase name=\"ok2\" "
    "classname=\"t\" "
    "time=\"0.005816936492919922\"><system-out>out</system-out></testcase><testcase name=\"bad\" "
    "classname=\"t\" time=\"0.006636142730712891\"><failure /><system-out>bad "
    "&lt;out&gt;</system-out></testcase><testcase name=\"skip\" classname=\"t\" "
    "time=\"0.007748603820800781\"><skipped /></testcase><testcase name=\"xf\" classname=\"t\" "
    "time=\"0.007462024688720703\" /></testsuite><testsuite name=\"t.tapt\" tests=\"3\" "
    "errors=\"0\" failures=\"1\" skipped=\"1\" time=\"0.00444340705871582\"><testcase name=\"1 - "
    "a\" classname=\"t.tapt\" /><testcase name=\"2 - b\" classname=\"t.tapt\"><failure "
    "/></testcase><testcase name=\"3\" classname=\"t.tapt\"><skipped "
    "/><system-out>c</system-out></testcase><system-out>1..3\n"
    "ok 1 - a\n"
    "not ok 2 - b\n"
    "ok 3 # SKIP c</system-out></testsuite></testsuites>";

/* meson_text */
static const char meson_text[] =
    "ninja: no work to do.\n"
    "ninja: Entering directory `/tmp/rs/me/b'\n"
    "ninja: no work to do.\n"
    "1/6 ok1  OK              0.01s\n"
    "2/6 ok2  OK              0.01s\n"
    "3/6 bad  FAIL            0.01s   exit status 1\n"
    ">>> MALLOC_PERTURB_=184 /usr/bin/sh -c 'echo \"bad <out>\"; exit 1'\n"
    "\n"
    "4/6 skip SKIP            0.01s   exit status 77\n"
    "5/6 xf   EXPECTEDFAIL    0.01s   exit status 1\n"
    "6/6 tapt FAIL            0.00s   1/2 subtests passed\n"
    ">>> MALLOC_PERTURB_=149 /usr/bin/sh -c 'echo \"1..3\"; echo \"ok 1 - a\"; echo \"not ok 2 - "
    "b\"; echo \"ok 3 # SKIP c\"'\n"
    "\n"
    "\n"
    "Ok:                 2   \n"
    "Expected Fail:      1   \n"
    "Fail:               2   \n"
    "Unexpected Pass:    0   \n"
    "Skipped:            1   \n"
    "Timeout:            0   \n"
    "\n"
    "Full log written to /tmp/rs/me/b/meson-logs/testlog.txt\n";

/* go_json */
static const char go_json[] =
    "{\"ImportPath\":\"example.com/m/b "
    "[example.com/m/b.test]\",\"Action\":\"build-output\",\"Output\":\"# example.com/m/b "
    "[example.com/m/b.test]\\n\"}\n"
    "{\"ImportPath\":\"example.com/m/b "
    "[example.com/m/b.test]\",\"Action\":\"build-output\",\"Output\":\"b/b_test.go:3:28: "
    "undefined: undefined\\n\"}\n"
    "{\"ImportPath\":\"example.com/m/b [example.com/m/b.test]\",\"Action\":\"build-fail\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.602219983Z\",\"Action\":\"start\",\"Package\":\"example.com/m/"
    "a\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.602488193Z\",\"Action\":\"start\",\"Package\":\"example.com/m/"
    "b\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.60250789Z\",\"Action\":\"output\",\"Package\":\"example.com/m/"
    "b\",\"Output\":\"FAIL\\texample.com/m/b [build failed]\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.602557723Z\",\"Action\":\"fail\",\"Package\":\"example.com/m/"
    "b\",\"Elapsed\":0,\"FailedBuild\":\"example.com/m/b [example.com/m/b.test]\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605654986Z\",\"Action\":\"run\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestOK\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605676185Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestOK\",\"Output\":\"=== RUN   TestOK\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605714497Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestOK\",\"Output\":\"--- PASS: TestOK (0.00s)\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605720348Z\",\"Action\":\"pass\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestOK\",\"Elapsed\":0}\n"
    "{\"Time\":\"2026-11-25T18:04:13.60572703Z\",\"Action\":\"run\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestFail\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605731749Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestFail\",\"Output\":\"=== RUN   TestFail\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605740636Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestFail\",\"Output\":\"hello out\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605747368Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestFail\",\"Output\":\"    a_test.go:4: bad value 3\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605753389Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestFail\",\"Output\":\"--- FAIL: TestFail (0.00s)\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605758319Z\",\"Action\":\"fail\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestFail\",\"Elapsed\":0}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605762887Z\",\"Action\":\"run\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestSkip\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605766574Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestSkip\",\"Output\":\"=== RUN   TestSkip\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605770922Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestSkip\",\"Output\":\"    a_test.go:5: later\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605776924Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestSkip\",\"Output\":\"--- SKIP: TestSkip (0.00s)\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605782334Z\",\"Action\":\"skip\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestSkip\",\"Elapsed\":0}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605786902Z\",\"Action\":\"run\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestSub\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.60579095Z\",\"Action\":\"output\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestSub\",\"Output\":\"=== RUN   TestSub\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605795799Z\",\"Action\":\"run\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestSub/one\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605800056Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestSub/one\",\"Output\":\"=== RUN   TestSub/one\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605806639Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestSub/one\",\"Output\":\"--- PASS: TestSub/one (0.00s)\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605812871Z\",\"Action\":\"pass\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestSub/one\",\"Elapsed\":0}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605817689Z\",\"Action\":\"run\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestSub/two\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605821607Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestSub/two\",\"Output\":\"=== RUN   TestSub/two\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605826646Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestSub/two\",\"Output\":\"    a_test.go:8: two broke\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605832026Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestSub/two\",\"Output\":\"--- FAIL: TestSub/two (0.00s)\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605839841Z\",\"Action\":\"fail\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestSub/two\",\"Elapsed\":0}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605850421Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Test\":\"TestSub\",\"Output\":\"--- FAIL: TestSub (0.00s)\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605853787Z\",\"Action\":\"fail\",\"Package\":\"example.com/m/"
    "a\",\"Test\":\"TestSub\",\"Elapsed\":0}\n"
    "{\"Time\":\"2026-11-25T18:04:13.605856733Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Output\":\"FAIL\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.606329876Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/a\",\"Output\":\"FAIL\\texample.com/m/a\\t0.004s\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:13.606343882Z\",\"Action\":\"fail\",\"Package\":\"example.com/m/"
    "a\",\"Elapsed\":0.004}\n";

/* go_timeout_json */
static const char go_timeout_json[] =
    "{\"Time\":\"2026-11-25T18:04:21.117073071Z\",\"Action\":\"start\",\"Package\":\"example.com/m/"
    "c\"}\n"
    "{\"Time\":\"2026-11-25T18:04:21.120584697Z\",\"Action\":\"run\",\"Package\":\"example.com/m/"
    "c\",\"Test\":\"TestQuick\"}\n"
    "{\"Time\":\"2026-11-25T18:04:21.12061341Z\",\"Action\":\"output\",\"Package\":\"example.com/m/"
    "c\",\"Test\":\"TestQuick\",\"Output\":\"=== RUN   TestQuick\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:21.120668203Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/c\",\"Test\":\"TestQuick\",\"Output\":\"--- PASS: TestQuick (0.00s)\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:21.12067744Z\",\"Action\":\"pass\",\"Package\":\"example.com/m/"
    "c\",\"Test\":\"TestQuick\",\"Elapsed\":0}\n"
    "{\"Time\":\"2026-11-25T18:04:21.120684082Z\",\"Action\":\"run\",\"Package\":\"example.com/m/"
    "c\",\"Test\":\"TestSlow\"}\n"
    "{\"Time\":\"2026-11-25T18:04:21.12068806Z\",\"Action\":\"output\",\"Package\":\"example.com/m/"
    "c\",\"Test\":\"TestSlow\",\"Output\":\"=== RUN   TestSlow\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:22.123133563Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/c\",\"Test\":\"TestSlow\",\"Output\":\"panic: test timed out after 1s\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:22.123176954Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/c\",\"Test\":\"TestSlow\",\"Output\":\"\\trunning tests:\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:22.123181924Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/c\",\"Test\":\"TestSlow\",\"Output\":\"\\t\\tTestSlow (1s)\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:22.123185099Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/c\",\"Test\":\"TestSlow\",\"Output\":\"\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:22.123188405Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/c\",\"Test\":\"TestSlow\",\"Output\":\"goroutine 5 [running]:\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:22.124108443Z\",\"Action\":\"output\",\"Package\":\"example.com/"
    "m/c\",\"Output\":\"FAIL\\texample.com/m/c\\t1.006s\\n\"}\n"
    "{\"Time\":\"2026-11-25T18:04:22.124124132Z\",\"Action\":\"fail\",\"Package\":\"example.com/m/"
    "c\",\"Elapsed\":1.007}\n";

/* cargo_text */
static const char cargo_text[] =
    "   Compiling cg v0.1.0 (/tmp/rs/cg)\n"
    "    Finished `test` profile [unoptimized + debuginfo] target(s) in 1.18s\n"
    "     Running unittests src/lib.rs (target/debug/deps/cg-cf430339bf8ee7bc)\n"
    "\n"
    "running 4 tests\n"
    "test tests::ign ... ignored\n"
    "test tests::ok ... ok\n"
    "test tests::bad ... FAILED\n"
    "test tests::sp - should panic ... ok\n"
    "\n"
    "failures:\n"
    "\n"
    "---- tests::bad stdout ----\n"
    "printed\n"
    "\n"
    "thread 'tests::bad' (12431) panicked at src/lib.rs:6:45:\n"
    "assertion `left == right` failed\n"
    "  left: 3\n"
    " right: 4\n"
    "stack backtrace:\n"
    "   0: __rustc::rust_begin_unwind\n"
    "             at "
    "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5\n"
    "   1: core::panicking::panic_fmt\n"
    "             at "
    "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14\n"
    "   2: core::panicking::assert_failed_inner\n"
    "             at "
    "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:439:17\n"
    "   3: core::panicking::assert_failed::<i32, i32>\n"
    "             at "
    "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:394:5\n"
    "   4: cg::tests::bad\n"
    "             at ./src/lib.rs:6:45\n"
    "   5: cg::tests::bad::{{closure}}\n"
    "             at ./src/lib.rs:6:21\n"
    "   6: core::ops::function::FnOnce::call_once\n"
    "             at "
    "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5\n"
    "   7: <fn() -> core::result::Result<(), alloc::string::String> as "
    "core::ops::function::FnOnce<()>>::call_once\n"
    "             at "
    "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5\n"
    "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n"
    "\n"
    "\n"
    "failures:\n"
    "    tests::bad\n"
    "\n"
    "test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in "
    "0.12s\n"
    "\n"
    "error: test failed, to rerun pass `--lib`\n"
    "     Running tests/it.rs (target/debug/deps/it-1245ce0d238d968c)\n"
    "\n"
    "running 2 tests\n"
    "test it_ok ... ok\n"
    "test it_bad ... FAILED\n"
    "\n"
    "failures:\n"
    "\n"
    "---- it_bad stdout ----\n"
    "\n"
    "thread 'it_bad' (12435) panicked at tests/it.rs:2:23:\n"
    "boom <x>\n"
    "stack backtrace:\n"
    "   0: __rustc::rust_begin_unwind\n"
    "             at "
    "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5\n"
    "   1: core::panicking::panic_fmt\n"
    "             at "
    "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14\n"
    "   2: it::it_bad\n"
    "             at ./tests/it.rs:2:23\n"
    "   3: it::it_bad::{{closure}}\n"
    "             at ./tests/it.rs:2:20\n"
    "   4: core::ops::function::FnOnce::call_once\n"
    "             at "
    "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5\n"
    "   5: <fn() -> core::result::Result<(), alloc::string::String> as "
    "core::ops::function::FnOnce<()>>::call_once\n"
    "             at "
    "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5\n"
    "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n"
    "\n"
    "\n"
    "failures:\n"
    "    it_bad\n"
    "\n"
    "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in "
    "0.08s\n"
    "\n"
    "error: test failed, to rerun pass `--test it`\n"
    "   Doc-tests cg\n"
    "\n"
    "running 0 tests\n"
    "\n"
    "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in "
    "0.00s\n"
    "\n"
    "error: 2 targets failed:\n"
    "    `--lib`\n"
    "    `--test it`\n";

/* unittest_text */
static const char unittest_text[] =
    ".FEsx\n"
    "======================================================================\n"
    "ERROR: test_c (__main__.T.test_c)\n"
    "----------------------------------------------------------------------\n"
    "Traceback (most recent call last):\n"
    "  File \"/tmp/rs/py/test_u.py\", line 5, in test_c\n"
    "    def test_c(self): raise ValueError(\"x\")\n"
    "                      ^^^^^^^^^^^^^^^^^^^^^\n"
    "ValueError: x\n"
    "\n"
    "======================================================================\n"
    "FAIL: test_b (__main__.T.test_b)\n"
    "----------------------------------------------------------------------\n"
    "Traceback (most recent call last):\n"
    "  File \"/tmp/rs/py/test_u.py\", line 4, in test_b\n"
    "    def test_b(self): self.assertEqual(1, 2)\n"
    "                      ^^^^^^^^^^^^^^^^^^^^^^\n"
    "AssertionError: 1 != 2\n"
    "\n"
    "----------------------------------------------------------------------\n"
    "Ran 5 tests in 0.001s\n"
    "\n"
    "FAILED (failures=1, errors=1, skipped=1, expected failures=1)\n";

/* node_tap */
static const char node_tap[] =
    "TAP version 13\n"
    "# Subtest: adds\n"
    "ok 1 - adds\n"
    "  ---\n"
    "  duration_ms: 1.477639\n"
    "  ...\n"
    "# Subtest: breaks\n"
    "not ok 2 - breaks\n"
    "  ---\n"
    "  duration_ms: 1.479122\n"
    "  location: '/tmp/rs/node/a.test.js:3:1'\n"
    "  failureType: 'testCodeFailure'\n"
    "  error: |-\n"
    "    Expected values to be strictly equal:\n"
    "    \n"
    "    1 !== 2\n"
    "    \n"
    "  code: 'ERR_ASSERTION'\n"
    "  name: 'AssertionError'\n"
    "  expected: 2\n"
    "  actual: 1\n"
    "  operator: 'strictEqual'\n"
    "  stack: |-\n"
    "    TestContext.<anonymous> (/tmp/rs/node/a.test.js:3:29)\n"
    "    Test.runInAsyncScope (node:async_hooks:206:9)\n"
    "    Test.run (node:internal/test_runner/test:796:25)\n"
    "    Test.processPendingSubtests (node:internal/test_runner/test:526:18)\n"
    "    Test.postRun (node:internal/test_runner/test:889:19)\n"
    "    Test.run (node:internal/test_runner/test:835:12)\n"
    "    async Test.processPendingSubtests (node:internal/test_runner/test:526:7)\n"
    "  ...\n"
    "# Subtest: later\n"
    "ok 3 - later # SKIP not yet\n"
    "  ---\n"
    "  duration_ms: 0.142857\n"
    "  ...\n"
    "# Subtest: wip\n"
    "not ok 4 - wip # TODO\n"
    "  ---\n"
    "  duration_ms: 0.30561\n"
    "  location: '/tmp/rs/node/a.test.js:5:1'\n"
    "  failureType: 'testCodeFailure'\n"
    "  error: 'x'\n"
    "  code: 'ERR_TEST_FAILURE'\n"
    "  stack: |-\n"
    "    TestContext.<anonymous> (/tmp/rs/node/a.test.js:5:43)\n"
    "    Test.runInAsyncScope (node:async_hooks:206:9)\n"
    "    Test.run (node:internal/test_runner/test:796:25)\n"
    "    Test.processPendingSubtests (node:internal/test_runner/test:526:18)\n"
    "    Test.postRun (node:internal/test_runner/test:889:19)\n"
    "    Test.run (node:internal/test_runner/test:835:12)\n"
    "    async Test.processPendingSubtests (node:internal/test_runner/test:526:7)\n"
    "  ...\n"
    "1..4\n"
    "# tests 4\n"
    "# suites 0\n"
    "# pass 1\n"
    "# fail 1\n"
    "# cancelled 0\n"
    "# skipped 1\n"
    "# todo 1\n"
    "# duration_ms 142.636591\n";

/* gcc_text */
static const char gcc_text[] =
    "w/w.c: In function \342\200\230main\342\200\231:\n"
    "w/w.c:7:12: warning: comparison of integer expressions of different signedness: "
    "\342\200\230int\342\200\231 and \342\200\230unsigned int\342\200\231 [-Wsign-compare]\n"
    "    7 |   if (argc < u) printf(\"%d\\n\", 1L);\n"
    "      |            ^\n"
    "w/w.c:7:26: warning: format \342\200\230%d\342\200\231 expects argument of type "
    "\342\200\230int\342\200\231, but argument 2 has type \342\200\230long int\342\200\231 "
    "[-Wformat=]\n"
    "    7 |   if (argc < u) printf(\"%d\\n\", 1L);\n"
    "      |                         ~^     ~~\n"
    "      |                          |     |\n"
    "      |                          int   long int\n"
    "      |                         %ld\n"
    "w/w.c:5:7: warning: unused variable \342\200\230x\342\200\231 [-Wunused-variable]\n"
    "    5 |   int x;\n"
    "      |       ^\n"
    "w/w.c:3:27: warning: unused parameter \342\200\230argv\342\200\231 [-Wunused-parameter]\n"
    "    3 | int main(int argc, char **argv)\n"
    "      |                    ~~~~~~~^~~~\n"
    "w/w.c: At top level:\n"
    "w/w.c:2:12: warning: \342\200\230unused_fn\342\200\231 defined but not used "
    "[-Wunused-function]\n"
    "    2 | static int unused_fn(void) { return 0; }\n"
    "      |            ^~~~~~~~~\n";

/* gcc_color_text */
static const char gcc_color_text[] =
    "\033[01m\033[Kw.c:\033[m\033[K In function "
    "\342\200\230\033[01m\033[Kmain\033[m\033[K\342\200\231:\n"
    "\033[01m\033[Kw.c:7:12:\033[m\033[K \033[01;35m\033[Kwarning: \033[m\033[Kcomparison of "
    "integer expressions of different signedness: "
    "\342\200\230\033[01m\033[Kint\033[m\033[K\342\200\231 and \342\200\230\033[01m\033[Kunsigned "
    "int\033[m\033[K\342\200\231 "
    "[\033[01;35m\033[K\033]8;;https://gcc.gnu.org/onlinedocs/gcc/"
    "Warning-Options.html#index-Wsign-compare\007-Wsign-compare\033]8;;\007\033[m\033[K]\n"
    "    7 |   if (argc \033[01;35m\033[K<\033[m\033[K u) printf(\"%d\\n\", 1L);\n"
    "      |            \033[01;35m\033[K^\033[m\033[K\n"
    "\033[01m\033[Kw.c:7:26:\033[m\033[K \033[01;35m\033[Kwarning: \033[m\033[Kformat "
    "\342\200\230\033[01m\033[K%d\033[m\033[K\342\200\231 expects argument of type "
    "\342\200\230\033[01m\033[Kint\033[m\033[K\342\200\231, but argument 2 has type "
    "\342\200\230\033[01m\033[Klong int\033[m\033[K\342\200\231 "
    "[\033[01;35m\033[K\033]8;;https://gcc.gnu.org/onlinedocs/gcc/"
    "Warning-Options.html#index-Wformat=\007-Wformat=\033]8;;\007\033[m\033[K]\n"
    "    7 |   if (argc < u) printf(\"\033[01;35m\033[K%d\033[m\033[K\\n\", "
    "\033[32m\033[K1L\033[m\033[K);\n"
    "      |                         \033[01;35m\033[K~^\033[m\033[K     "
    "\033[32m\033[K~~\033[m\033[K\n"
    "      |                          \033[01;35m\033[K|\033[m\033[K     "
    "\033[32m\033[K|\033[m\033[K\n"
    "      |                          \033[01;35m\033[Kint\033[m\033[K   \033[32m\033[Klong "
    "int\033[m\033[K\n"
    "      |                         \033[32m\033[K%ld\033[m\033[K\n"
    "\033[01m\033[Kw.c:5:7:\033[m\033[K \033[01;35m\033[Kwarning: \033[m\033[Kunused variable "
    "\342\200\230\033[01m\033[Kx\033[m\033[K\342\200\231 "
    "[\033[01;35m\033[K\033]8;;https://gcc.gnu.org/onlinedocs/gcc/"
    "Warning-Options.html#index-Wunused-variable\007-Wunused-variable\033]8;;\007\033[m\033[K]\n"
    "    5 |   int \033[01;35m\033[Kx\033[m\033[K;\n"
    "      |       \033[01;35m\033[K^\033[m\033[K\n"
    "\033[01m\033[Kw.c:3:27:\033[m\033[K \033[01;35m\033[Kwarning: \033[m\033[Kunused parameter "
    "\342\200\230\033[01m\033[Kargv\033[m\033[K\342\200\231 "
    "[\033[01;35m\033[K\033]8;;https://gcc.gnu.org/onlinedocs/gcc/"
    "Warning-Options.html#index-Wunused-parameter\007-Wunused-parameter\033]8;;\007\033[m\033[K]\n"
    "    3 | int main(int argc, \033[01;35m\033[Kchar **argv\033[m\033[K)\n"
    "      |                    \033[01;35m\033[K~~~~~~~^~~~\033[m\033[K\n"
    "\033[01m\033[Kw.c:\033[m\033[K At top level:\n"
    "\033[01m\033[Kw.c:2:12:\033[m\033[K \033[01;35m\033[Kwarning: "
    "\033[m\033[K\342\200\230\033[01m\033[Kunused_fn\033[m\033[K\342\200\231 defined but not used "
    "[\033[01;35m\033[K\033]8;;https://gcc.gnu.org/onlinedocs/gcc/"
    "Warning-Options.html#index-Wunused-function\007-Wunused-function\033]8;;\007\033[m\033[K]\n"
    "    2 | static int \033[01;35m\033[Kunused_fn\033[m\033[K(void) { return 0; }\n"
    "      |            \033[01;35m\033[K^~~~~~~~~\033[m\033[K\n";

/* gcc_include_text */
static const char gcc_include_text[] =
    "In file included from w/i.c:1:\n"
    "w/h.h:2:2: warning: #warning hello [-Wcpp]\n"
    "    2 | #warning hello\n"
    "      |  ^~~~~~~\n"
    "w/h.h:1:12: warning: \342\200\230y\342\200\231 defined but not used [-Wunused-variable]\n"
    "    1 | static int y;\n"
    "      |            ^\n";

/* clang_text */
static const char clang_text[] =
    "w/w.c:7:32: warning: format specifies type 'int' but the argument has type 'long' [-Wformat]\n"
    "  if (argc < u) printf(\"%d\\n\", 1L);\n"
    "                        ~~     ^~\n"
    "                        %ld\n"
    "w/w.c:5:7: warning: unused variable 'x' [-Wunused-variable]\n"
    "  int x;\n"
    "      ^\n"
    "w/w.c:3:27: warning: unused parameter 'argv' [-Wunused-parameter]\n"
    "int main(int argc, char **argv)\n"
    "                          ^\n"
    "w/w.c:7:12: warning: comparison of integers of different signs: 'int' and 'unsigned int' "
    "[-Wsign-compare]\n"
    "  if (argc < u) printf(\"%d\\n\", 1L);\n"
    "      ~~~~ ^ ~\n"
    "w/w.c:2:12: warning: unused function 'unused_fn' [-Wunused-function]\n"
    "static int unused_fn(void) { return 0; }\n"
    "           ^\n"
    "5 warnings generated.\n";

/* Written as the tools' documentation shows them.  */
static const char automake_text[] =
    "make  check-TESTS\n"
    "PASS: t/ok.sh\n"
    "\033[0;31mFAIL\033[m: t/bad.sh\n"
    "SKIP: t/later.sh\n"
    "XFAIL: t/known.sh\n"
    "ERROR: t/broken.sh\n"
    "============================================================================\n"
    "Testsuite summary for tars 1.0\n"
    "============================================================================\n"
    "# TOTAL: 5\n"
    "# PASS:  1\n"
    "# SKIP:  1\n"
    "# XFAIL: 1\n"
    "# FAIL:  1\n"
    "# XPASS: 0\n"
    "# ERROR: 1\n"
    "============================================================================\n"
    "See ./test-suite.log\n";

static const char dotnet_text[] =
    "  Determining projects to restore...\n"
    "Starting test execution, please wait...\n"
    "A total of 1 test files matched the specified pattern.\n"
    "  Failed Tests.UnitTest1.Test2 [3 ms]\n"
    "  Error Message:\n"
    "   Assert.Equal() Failure\n"
    "\n"
    "Failed!  - Failed:     1, Passed:     3, Skipped:     0, Total:     4, Duration: 12 ms - "
    "Tests.dll (net8.0)\n"
    "Passed!  - Failed:     0, Passed:     2, Skipped:     1, Total:     3, Duration: 4 ms - "
    "More.dll (net8.0)\n";

static const char dotnet_old_text[] = "  X Tests.UnitTest1.Test2 [3ms]\n"
                                      "\n"
                                      "Total tests: 4\n"
                                      "     Passed: 3\n"
                                      "     Failed: 1\n"
                                      " Total time: 1.0532 Seconds\n";

static const char jest_text[] = " PASS  src/ok.test.js\n"
                                " FAIL  src/sum.test.js\n"
                                "  \342\227\217 math \342\200\272 adds\n"
                                "\n"
                                "    expect(received).toBe(expected) // Object.is equality\n"
                                "\n"
                                " FAIL  src/broken.test.js\n"
                                "  \342\227\217 Test suite failed to run\n"
                                "\n"
                                "  \342\227\217 Console\n"
                                "\n"
                                "Test Suites: 2 failed, 1 passed, 3 total\n"
                                "Tests:       1 failed, 1 skipped, 3 passed, 5 total\n"
                                "Snapshots:   0 total\n"
                                "Time:        0.512 s\n";

/* ----- helpers ----- */

static void
parse_junit_ok(const char *xml, struct tars_test_results *r)
{
  struct tars_error err;
  if (tars_results_parse_junit(xml, strlen(xml), r, &err) < 0)
    fail_msg("parse_junit: %s", err.msg);
  assert_true(r->parsed);
  assert_string_equal(r->source, "junit");
}

static void
parse_text_ok(const char *runner, const char *text, struct tars_test_results *r)
{
  struct tars_error err;
  if (tars_results_parse_text(runner, text, strlen(text), r, &err) < 0)
    fail_msg("parse_text %s: %s", runner, err.msg);
}

static void
assert_counts(const struct tars_test_results *r, uint64_t passed, uint64_t failed, uint64_t skipped)
{
  if (r->passed != passed || r->failed != failed || r->skipped != skipped)
    fail_msg("counts %" PRIu64 "/%" PRIu64 "/%" PRIu64 ", expected %" PRIu64 "/%" PRIu64
             "/%" PRIu64,
             r->passed, r->failed, r->skipped, passed, failed, skipped);
}

static const struct tars_test_case *
find(const struct tars_test_results *r, const char *name, enum tars_test_status status)
{
  const struct tars_test_case *c = tars_results_find(r, name);
  if (c == NULL)
    {
      for (size_t i = 0; i < r->n_cases; i++)
        print_message("  have: '%s'\n", r->cases[i].name);
      fail_msg("no case '%s'", name);
    }
  assert_int_equal(c->status, status);
  return c;
}

/* A document of N testcases named by FMT (with %zu).  */
static char *
junit_doc(size_t n, const char *fmt)
{
  size_t cap = 64 + n * (strlen(fmt) + 64), o = 0;
  char *s = malloc(cap);
  assert_non_null(s);
  o += (size_t)sprintf(s, "<testsuite>");
  for (size_t i = 0; i < n; i++)
    {
      o += (size_t)sprintf(s + o, "<testcase name=\"");
      o += (size_t)sprintf(s + o, fmt, i);
      o += (size_t)sprintf(s + o, "\"/>");
    }
  sprintf(s + o, "</testsuite>");
  return s;
}

static double
now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ----- JUnit ----- */

static void
test_junit_pytest(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  parse_junit_ok(pytest_junit, &r);
  assert_counts(&r, 3, 4, 1);
  assert_int_equal(r.n_cases, 8);
  assert_string_equal(r.cases[0].name, "test_x::test_ok");
  assert_null(r.cases[0].output);
  const struct tars_test_case *c = find(&r, "test_x::test_fail", TARS_TEST_FAILED);
  /* The message first, then the traceback.  */
  assert_non_null(c->output);
  assert_true(strncmp(c->output,
                      "AssertionError: numbers differ\nassert 1 == 2\ndef test_fail():\n",
                      61) == 0);
  assert_non_null(strstr(c->output, "test_x.py:6: AssertionError"));
  c = find(&r, "test_x::test_err_fixture", TARS_TEST_FAILED);
  assert_non_null(strstr(c->output, "RuntimeError: fixture broke"));
  find(&r, "test_x.TestK::test_m", TARS_TEST_FAILED);
  find(&r, "test_x::test_p[1]", TARS_TEST_PASSED);
  find(&r, "test_x::test_p[2]", TARS_TEST_FAILED);
  c = find(&r, "test_x::test_skip", TARS_TEST_SKIPPED);
  assert_null(c->output);
}

static void
test_junit_pytest_logging(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  parse_junit_ok(pytest_junit_logging, &r);
  assert_counts(&r, 3, 4, 1);
  const struct tars_test_case *c = find(&r, "test_x::test_fail", TARS_TEST_FAILED);
  assert_non_null(strstr(c->output, "some stdout"));
  assert_true(strncmp(c->output, "AssertionError: numbers differ\n", 31) == 0);
  /* Passing tests' output is not kept.  */
  assert_null(find(&r, "test_x::test_ok", TARS_TEST_PASSED)->output);
}

static void
test_junit_ctest(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  parse_junit_ok(ctest_junit, &r);
  /* ok1 ok2 | bad slow | skipme missing (notrun) disabled (status="disabled", no child) */
  assert_counts(&r, 2, 2, 3);
  assert_int_equal(r.n_cases, 7);
  /* ctest's classname is the name again: not repeated.  */
  const struct tars_test_case *c = find(&r, "bad", TARS_TEST_FAILED);
  assert_string_equal(c->output, "it <broke> & failed\nerr");
  assert_null(find(&r, "slow", TARS_TEST_FAILED)->output);
  find(&r, "disabled", TARS_TEST_SKIPPED);
  find(&r, "missing", TARS_TEST_SKIPPED);
  find(&r, "ok2", TARS_TEST_PASSED);
}

static void
test_junit_meson(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  parse_junit_ok(meson_junit, &r);
  assert_counts(&r, 4, 2, 2);
  assert_int_equal(r.n_cases, 8);
  assert_string_equal(find(&r, "t::bad", TARS_TEST_FAILED)->output, "bad <out>");
  find(&r, "t::xf", TARS_TEST_PASSED);
  find(&r, "t.tapt::2 - b", TARS_TEST_FAILED);
  find(&r, "t.tapt::3", TARS_TEST_SKIPPED);

  /* Appending a second document.  */
  parse_junit_ok(ctest_junit, &r);
  assert_counts(&r, 6, 4, 5);
  assert_int_equal(r.n_cases, 15);
  find(&r, "bad", TARS_TEST_FAILED);
}

static void
test_junit_malformed(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  struct tars_error err;
  parse_junit_ok(meson_junit, &r);

  static const char *const bad[] = {
      "<testsuite>\n<testcase name='a'>\n</testsuite>\n",
      "",
      "not xml at all",
      "<testsuite><testcase name='a'/></testsuite><extra/>",
      "<testsuite><testcase name='a' name='b'/></testsuite>",
      "<testsuite><testcase name='&undefined;'/></testsuite>",
      "<testsuite><testcase name='\xff\xfe'/></testsuite>",
      "<?xml version='1.0' encoding='x-unknown'?><testsuite/>",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      memset(&err, 0, sizeof err);
      assert_int_equal(tars_results_parse_junit(bad[i], strlen(bad[i]), &r, &err), -1);
      assert_int_equal(err.kind, TARS_ERR_INVALID);
      assert_non_null(strstr(err.msg, "JUnit XML: "));
      assert_non_null(strstr(err.msg, "line "));
      /* R is left as it was.  */
      assert_counts(&r, 4, 2, 2);
      assert_int_equal(r.n_cases, 8);
    }
  assert_int_equal(tars_results_parse_junit(bad[0], strlen(bad[0]), &r, &err), -1);
  assert_non_null(strstr(err.msg, "mismatched tag at line 3"));

  const char *html = "<html><testcase name='a'/></html>";
  assert_int_equal(tars_results_parse_junit(html, strlen(html), &r, &err), -1);
  assert_non_null(strstr(err.msg, "the root element is <html>"));
}

static void
test_junit_entities(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  struct tars_error err;
  static const char bomb[] =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE lolz [\n"
      " <!ENTITY lol \"lol\">\n"
      " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
      " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
      " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
      " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
      " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
      " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
      " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
      " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
      " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
      "]>\n"
      "<testsuite><testcase name=\"&lol9;\"><failure message=\"&lol9;\"/></testcase></testsuite>\n";
  assert_int_equal(tars_results_parse_junit(bomb, strlen(bomb), &r, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  assert_non_null(strstr(err.msg, "DOCTYPE declaration is refused (line 2)"));
  assert_false(r.parsed);
  assert_int_equal(r.n_cases, 0);

  /* External entities, even without an internal subset.  */
  static const char ext[] = "<!DOCTYPE t SYSTEM \"file:///etc/passwd\"><testsuite/>";
  assert_int_equal(tars_results_parse_junit(ext, strlen(ext), &r, &err), -1);
  assert_non_null(strstr(err.msg, "DOCTYPE"));

  /* Character references are fine, and control characters are cleaned from names.  */
  static const char refs[] = "<testsuite><testcase classname=\"a&#9;b\" name=\"x&#10;y&#x263A;\"/>"
                             "</testsuite>";
  parse_junit_ok(refs, &r);
  assert_string_equal(r.cases[0].name, "a?b::x?y\xe2\x98\xba");
}

static void
test_junit_depth(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  struct tars_error err;
  char doc[16384];
  size_t o = (size_t)sprintf(doc, "<testsuites>");
  for (int i = 0; i < 1000; i++)
    o += (size_t)sprintf(doc + o, "<a>");
  assert_int_equal(tars_results_parse_junit(doc, o, &r, &err), -1);
  assert_non_null(strstr(err.msg, "nested deeper than 64"));

  /* Suites within suites are fine.  */
  static const char nested[] =
      "<testsuites><testsuite name=\"outer\"><testsuite name=\"inner\">"
      "<testcase classname=\"C\" name=\"t\"><error message=\"boom\">trace</error></testcase>"
      "</testsuite></testsuite></testsuites>";
  parse_junit_ok(nested, &r);
  assert_counts(&r, 0, 1, 0);
  assert_string_equal(find(&r, "C::t", TARS_TEST_FAILED)->output, "boom\ntrace");
}

static void
test_junit_names(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};

  /* Duplicates are numbered; a name that is already "a #2" is skipped over.  */
  parse_junit_ok("<testsuite><testcase name=\"a #2\"/><testcase name=\"a\"/>"
                 "<testcase name=\"a\"><skipped/></testcase><testcase name=\"a\"/>"
                 "<testcase/><testcase name=\"\"/></testsuite>",
                 &r);
  assert_int_equal(r.n_cases, 6);
  assert_string_equal(r.cases[0].name, "a #2");
  assert_string_equal(r.cases[1].name, "a");
  assert_string_equal(r.cases[2].name, "a #3");
  assert_int_equal(r.cases[2].status, TARS_TEST_SKIPPED);
  assert_string_equal(r.cases[3].name, "a #4");
  assert_string_equal(r.cases[4].name, "(unnamed)");
  assert_string_equal(r.cases[5].name, "(unnamed) #2");
  tars_test_results_free(&r);

  /* Long names are cut, at a character boundary, and stay unique when cut.  */
  size_t n = 100000;
  char *doc = malloc(4 * n + 256);
  assert_non_null(doc);
  size_t o = (size_t)sprintf(doc, "<testsuite><testcase classname=\"c\" name=\"");
  for (size_t i = 0; i < n; i++)
    o += (size_t)sprintf(doc + o, "\xc3\xa9");
  o += (size_t)sprintf(doc + o, "\"/><testcase classname=\"c\" name=\"");
  for (size_t i = 0; i < n; i++)
    o += (size_t)sprintf(doc + o, "\xc3\xa9");
  sprintf(doc + o, "\"/></testsuite>");
  parse_junit_ok(doc, &r);
  free(doc);
  assert_int_equal(r.n_cases, 2);
  assert_true(strlen(r.cases[0].name) <= TARS_RESULTS_MAX_NAME);
  assert_true(strlen(r.cases[0].name) >= TARS_RESULTS_MAX_NAME - 1);
  assert_true(strncmp(r.cases[0].name, "c::\xc3\xa9", 5) == 0);
  assert_true(strlen(r.cases[1].name) <= TARS_RESULTS_MAX_NAME);
  assert_string_equal(r.cases[1].name + strlen(r.cases[1].name) - 3, " #2");
  assert_true(strncmp(r.cases[0].name, r.cases[1].name, 300) == 0);
}

static void
test_junit_limits(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  char *doc = junit_doc(TARS_RESULTS_MAX_CASES + 5, "t%zu");
  double t0 = now();
  parse_junit_ok(doc, &r);
  free(doc);
  /* Every testcase counts, only the first TARS_RESULTS_MAX_CASES are kept.  */
  assert_counts(&r, TARS_RESULTS_MAX_CASES + 5, 0, 0);
  assert_int_equal(r.n_cases, TARS_RESULTS_MAX_CASES);
  find(&r, "t99999", TARS_TEST_PASSED);
  assert_null(tars_results_find(&r, "t100000"));
  tars_test_results_free(&r);

  /* The same name 100000 times: numbered without a quadratic search.  */
  doc = junit_doc(TARS_RESULTS_MAX_CASES, "same");
  parse_junit_ok(doc, &r);
  free(doc);
  assert_int_equal(r.n_cases, TARS_RESULTS_MAX_CASES);
  find(&r, "same #100000", TARS_TEST_PASSED);
  assert_true(now() - t0 < 20);

  /* A failure's output is bounded whatever its size.  */
  tars_test_results_free(&r);
  size_t big = 10u << 20;
  doc = malloc(big + 256);
  assert_non_null(doc);
  size_t o = (size_t)sprintf(doc, "<testsuite><testcase name=\"t\"><failure message=\"");
  memset(doc + o, 'm', 100000);
  o += 100000;
  o += (size_t)sprintf(doc + o, "\">");
  for (size_t i = 0; o + 64 < big; i++)
    o += (size_t)sprintf(doc + o, "line %zu\n", i);
  sprintf(doc + o, "</failure></testcase></testsuite>");
  parse_junit_ok(doc, &r);
  free(doc);
  const char *out = find(&r, "t", TARS_TEST_FAILED)->output;
  assert_true(strlen(out) <= TARS_RESULTS_MAX_OUTPUT);
  size_t lines = 1;
  for (const char *p = out; (p = strchr(p, '\n')) != NULL; p++)
    lines++;
  assert_true(lines <= TARS_RESULTS_MAX_OUTPUT_LINES);
  assert_true(strncmp(out, "mmmm", 4) == 0);
  assert_non_null(strstr(out, "\nline "));
}

/* ----- go test -json ----- */

static void
test_go_json(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  struct tars_error err;
  assert_int_equal(tars_results_parse_go_json(go_json, strlen(go_json), &r, &err), 0);
  assert_true(r.parsed);
  assert_string_equal(r.source, "go-json");
  assert_counts(&r, 2, 4, 1);
  assert_int_equal(r.n_cases, 7);
  const struct tars_test_case *c = find(&r, "example.com/m/a::TestFail", TARS_TEST_FAILED);
  assert_non_null(strstr(c->output, "hello out\n    a_test.go:4: bad value 3\n"));
  find(&r, "example.com/m/a::TestOK", TARS_TEST_PASSED);
  find(&r, "example.com/m/a::TestSkip", TARS_TEST_SKIPPED);
  find(&r, "example.com/m/a::TestSub", TARS_TEST_FAILED);
  find(&r, "example.com/m/a::TestSub/one", TARS_TEST_PASSED);
  c = find(&r, "example.com/m/a::TestSub/two", TARS_TEST_FAILED);
  assert_non_null(strstr(c->output, "two broke"));
  /* The test binary did not build: its compiler output.  */
  c = find(&r, "example.com/m/b::(build)", TARS_TEST_FAILED);
  assert_non_null(strstr(c->output, "b/b_test.go:3:28: undefined: undefined"));
}

static void
test_go_json_timeout(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  struct tars_error err;
  assert_int_equal(tars_results_parse_go_json(go_timeout_json, strlen(go_timeout_json), &r, &err),
                   0);
  /* TestSlow never ended: the package's failure is its.  */
  assert_counts(&r, 1, 1, 0);
  assert_int_equal(r.n_cases, 2);
  const struct tars_test_case *c = find(&r, "example.com/m/c::TestSlow", TARS_TEST_FAILED);
  assert_non_null(strstr(c->output, "panic: test timed out after 1s"));
}

static void
test_go_json_hostile(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  struct tars_error err;

  /* Nothing recognisable.  */
  const char *junk = "hello\n{not json\n[1,2]\n{\"Action\":5}\n\n";
  assert_int_equal(tars_results_parse_go_json(junk, strlen(junk), &r, &err), 0);
  assert_false(r.parsed);
  assert_int_equal(r.n_cases, 0);

  /* A package that fails with no test failing and no build failure (TestMain panicked),
   * -count=2 with one failing run, events without a run, garbage between.  */
  const char *ev =
      "{\"Action\":\"start\",\"Package\":\"p\"}\n"
      "{\"Action\":\"output\",\"Package\":\"p\",\"Output\":\"panic: boom\\n\"}\n"
      "{\"Action\":\"fail\",\"Package\":\"p\",\"Elapsed\":0}\n"
      "garbage \x01\xff\n"
      "{\"Action\":\"pass\",\"Package\":\"q\",\"Test\":\"T\"}\n"
      "{\"Action\":\"output\",\"Package\":\"q\",\"Test\":\"T\",\"Output\":\"second run\\n\"}\n"
      "{\"Action\":\"fail\",\"Package\":\"q\",\"Test\":\"T\"}\n"
      "{\"Action\":\"pass\",\"Package\":\"q\",\"Test\":\"T\"}\n"
      "{\"Action\":\"skip\",\"Package\":\"q\",\"Test\":\"S\\u0000x\"}\n"
      "{\"Action\":\"fail\",\"Package\":\"q\"}\n"
      "{\"Action\":\"pass\",\"Package\":\"ok\"}\n"
      "{\"Action\":\"skip\",\"Package\":\"none\"}\n";
  assert_int_equal(tars_results_parse_go_json(ev, strlen(ev), &r, &err), 0);
  assert_true(r.parsed);
  assert_counts(&r, 0, 2, 1);
  assert_int_equal(r.n_cases, 3);
  assert_string_equal(find(&r, "p::(package)", TARS_TEST_FAILED)->output, "panic: boom");
  assert_string_equal(find(&r, "q::T", TARS_TEST_FAILED)->output, "second run");
  find(&r, "q::S", TARS_TEST_SKIPPED);
  tars_test_results_free(&r);

  /* Many tests running at once, each printing: output is bounded in total, not per test.  */
  size_t n = 20000;
  char *s = malloc(n * 400 + 64), *p = s;
  assert_non_null(s);
  for (size_t i = 0; i < n; i++)
    p += sprintf(
        p,
        "{\"Action\":\"run\",\"Package\":\"x\",\"Test\":\"T%zu\"}\n"
        "{\"Action\":\"output\",\"Package\":\"x\",\"Test\":\"T%zu\",\"Output\":\"%0200d\\n\"}\n",
        i, i, 0);
  p += sprintf(p, "{\"Action\":\"fail\",\"Package\":\"x\"}\n");
  assert_int_equal(tars_results_parse_go_json(s, (size_t)(p - s), &r, &err), 0);
  free(s);
  assert_counts(&r, 0, n, 0);
  assert_non_null(find(&r, "x::T0", TARS_TEST_FAILED)->output);
  assert_null(find(&r, "x::T19999", TARS_TEST_FAILED)->output);
}

/* ----- text summaries ----- */

static void
test_text_pytest(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  parse_text_ok("pytest", pytest_text, &r);
  assert_true(r.parsed);
  assert_string_equal(r.source, "pytest");
  /* "3 failed, 3 passed, 1 skipped, 1 error": an error is a failure.  */
  assert_counts(&r, 3, 4, 1);
  assert_int_equal(r.n_cases, 4);
  assert_string_equal(find(&r, "test_x.py::test_fail", TARS_TEST_FAILED)->output,
                      "AssertionError: numbers differ");
  find(&r, "test_x.py::TestK::test_m", TARS_TEST_FAILED);
  find(&r, "test_x.py::test_p[2]", TARS_TEST_FAILED);
  find(&r, "test_x.py::test_err_fixture", TARS_TEST_FAILED);
  tars_test_results_free(&r);

  /* Colours, -q, parameters holding " - ", several runs, xfail/xpass, a captured log line.  */
  parse_text_ok("pytest",
                "ERROR    root:test_x.py:3 not a test\n"
                "FAILED t.py::test_a[x - y] - assert 0\n"
                "\033[31m=== \033[31m\033[1m1 failed\033[0m, \033[32m2 passed\033[0m, "
                "\033[33m1 xfailed\033[0m, 1 xpassed, 2 warnings\033[31m in 61.20s (0:01:01)"
                " ===\033[0m\n"
                "1 passed, 1 deselected in 0.01s\n",
                &r);
  assert_counts(&r, 4, 1, 1);
  assert_int_equal(r.n_cases, 1);
  assert_string_equal(find(&r, "t.py::test_a[x - y]", TARS_TEST_FAILED)->output, "assert 0");
  tars_test_results_free(&r);

  /* Counts past 64 bits saturate.  */
  parse_text_ok("pytest", "99999999999999999999999 passed in 1.00s\n1 passed in 1s\n", &r);
  assert_counts(&r, UINT64_MAX, 0, 0);
  tars_test_results_free(&r);

  /* No summary: nothing, not even the names.  */
  parse_text_ok("pytest", "FAILED t.py::test_a - x\n== 2 passed, 1 bogus in 1s ==\n", &r);
  assert_false(r.parsed);
  assert_int_equal(r.n_cases, 0);
  assert_counts(&r, 0, 0, 0);
}

static void
test_text_ctest(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  parse_text_ok("ctest", ctest_text, &r);
  assert_true(r.parsed);
  /* "50% tests passed, 3 tests failed out of 6": the 3 passed include skipme.  */
  assert_counts(&r, 2, 3, 2);
  assert_int_equal(r.n_cases, 3);
  find(&r, "bad", TARS_TEST_FAILED);
  find(&r, "missing", TARS_TEST_FAILED);
  find(&r, "slow", TARS_TEST_FAILED);
  tars_test_results_free(&r);

  parse_text_ok(
      "ctest",
      "100% tests passed, 0 tests failed out of 4\n\nTotal Test time (real) =   0.01 sec\n"
      "75% tests passed, 1 tests failed out of 4\n"
      "The following tests FAILED:\n"
      "\t  3 - unit/test (with parens) (SEGFAULT)  label\n",
      &r);
  assert_counts(&r, 7, 1, 0);
  find(&r, "unit/test (with parens)", TARS_TEST_FAILED);
}

static void
test_text_cargo(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  parse_text_ok("cargo", cargo_text, &r);
  assert_true(r.parsed);
  /* Three test binaries: the library's, tests/it.rs and the doc-tests.  */
  assert_counts(&r, 3, 2, 1);
  assert_int_equal(r.n_cases, 2);
  find(&r, "tests::bad", TARS_TEST_FAILED);
  find(&r, "it_bad", TARS_TEST_FAILED);
}

static void
test_text_unittest(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  parse_text_ok("unittest", unittest_text, &r);
  assert_true(r.parsed);
  /* Ran 5: failures=1, errors=1, skipped=1, expected failures=1.  */
  assert_counts(&r, 1, 2, 2);
  assert_int_equal(r.n_cases, 2);
  find(&r, "__main__.T.test_b", TARS_TEST_FAILED);
  find(&r, "__main__.T.test_c", TARS_TEST_FAILED);
  tars_test_results_free(&r);

  /* Python < 3.11 names, errors in a class set-up with no test run, OK (skipped=1).  */
  parse_text_ok("unittest",
                "FAIL: test_b (mod.T)\nERROR: setUpClass (mod.U)\n"
                "Ran 1 test in 0.000s\n\nFAILED (failures=1, errors=1)\n"
                "Ran 3 tests in 0.1s\nOK (skipped=1)\n",
                &r);
  assert_counts(&r, 2, 2, 1);
  find(&r, "mod.T.test_b", TARS_TEST_FAILED);
  find(&r, "mod.U.setUpClass", TARS_TEST_FAILED);
}

static void
test_text_others(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  struct tars_error err;

  parse_text_ok("automake", automake_text, &r);
  assert_string_equal(r.source, "automake");
  assert_counts(&r, 2, 2, 1);
  assert_int_equal(r.n_cases, 2);
  find(&r, "t/bad.sh", TARS_TEST_FAILED);
  find(&r, "t/broken.sh", TARS_TEST_FAILED);
  tars_test_results_free(&r);

  parse_text_ok("dotnet", dotnet_text, &r);
  assert_counts(&r, 5, 1, 1);
  find(&r, "Tests.UnitTest1.Test2", TARS_TEST_FAILED);
  tars_test_results_free(&r);
  parse_text_ok("dotnet", dotnet_old_text, &r);
  assert_counts(&r, 3, 1, 0);
  tars_test_results_free(&r);

  parse_text_ok("jest", jest_text, &r);
  /* The suite that failed to run has no tests in "Tests:": it counts as one.  */
  assert_counts(&r, 3, 2, 1);
  assert_int_equal(r.n_cases, 2);
  find(&r, "math \xe2\x80\xba adds", TARS_TEST_FAILED);
  find(&r, "src/broken.test.js::(suite)", TARS_TEST_FAILED);
  tars_test_results_free(&r);

  parse_text_ok("meson", meson_text, &r);
  /* Ok 2 + Expected Fail 1, Fail 2, Skipped 1.  */
  assert_counts(&r, 3, 2, 1);
  assert_int_equal(r.n_cases, 2);
  find(&r, "bad", TARS_TEST_FAILED);
  find(&r, "tapt", TARS_TEST_FAILED);
  tars_test_results_free(&r);

  assert_int_equal(tars_results_parse_text("nose", "x", 1, &r, &err), -1);
  assert_int_equal(err.kind, TARS_ERR_INVALID);
  parse_text_ok("meson", "", &r);
  assert_false(r.parsed);
}

static void
test_text_tap(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  parse_text_ok("tap", node_tap, &r);
  assert_true(r.parsed);
  /* adds | breaks | later (SKIP), wip (TODO, failing: not a failure)  */
  assert_counts(&r, 1, 1, 2);
  assert_int_equal(r.n_cases, 4);
  find(&r, "adds", TARS_TEST_PASSED);
  find(&r, "breaks", TARS_TEST_FAILED);
  find(&r, "later", TARS_TEST_SKIPPED);
  find(&r, "wip", TARS_TEST_SKIPPED);
  tars_test_results_free(&r);

  /* Fewer tests than planned, unnamed and duplicate tests, a bail-out.  */
  parse_text_ok("tap",
                "1..6\nok 1\nok 2 same\nnot ok 3 same\nok\nnotok 5\nok 6 a \\# b # skip\n"
                "Bail out! database gone\n",
                &r);
  assert_counts(&r, 3, 3, 1);
  find(&r, "1", TARS_TEST_PASSED);
  find(&r, "same", TARS_TEST_PASSED);
  find(&r, "same #2", TARS_TEST_FAILED);
  find(&r, "4", TARS_TEST_PASSED);
  find(&r, "a \\# b", TARS_TEST_SKIPPED);
  find(&r, "(bail out)", TARS_TEST_FAILED);
  assert_string_equal(find(&r, "(plan)", TARS_TEST_FAILED)->output, "planned 6 tests, 5 ran");
}

static void
test_text_hostile(void **state)
{
  cleanup_test_results struct tars_test_results r = {0};
  static const char *const runners[] = {"pytest", "ctest", "cargo", "unittest", "automake",
                                        "dotnet", "tap",   "jest",  "meson"};
  /* One very long line, many lines, and NUL bytes: linear, bounded.  */
  size_t n = 8u << 20;
  char *big = malloc(n);
  assert_non_null(big);
  memset(big, 'F', n);
  for (size_t i = 0; i + 32 < n; i += 32)
    memcpy(big + i,
           i < n / 2 ? "FAILED a::b - x\nnot ok 1 - \0\r\n" : "FAILED a::b - xxxxxxxxxxxxxxxxx",
           31);
  double t0 = now();
  for (size_t i = 0; i < sizeof runners / sizeof *runners; i++)
    {
      struct tars_error err;
      assert_int_equal(tars_results_parse_text(runners[i], big, n, &r, &err), 0);
      assert_true(r.n_cases <= TARS_RESULTS_MAX_CASES);
      tars_test_results_free(&r);
    }
  assert_true(now() - t0 < 30);
  free(big);
}

/* ----- warnings ----- */

static void
check_gcc_warnings(const struct tars_warning *w, size_t n, const char *file)
{
  assert_int_equal(n, 5);
  assert_string_equal(w[0].file, file);
  assert_int_equal(w[0].line, 7);
  assert_string_equal(w[0].message, "comparison of integer expressions of different signedness: "
                                    "\xe2\x80\x98int\xe2\x80\x99 and "
                                    "\xe2\x80\x98unsigned int\xe2\x80\x99");
  assert_string_equal(w[0].flag, "-Wsign-compare");
  assert_int_equal(w[1].line, 7);
  assert_string_equal(w[1].flag, "-Wformat=");
  assert_int_equal(w[2].line, 5);
  assert_string_equal(w[2].message, "unused variable \xe2\x80\x98x\xe2\x80\x99");
  assert_string_equal(w[2].flag, "-Wunused-variable");
  assert_int_equal(w[3].line, 3);
  assert_int_equal(w[4].line, 2);
  assert_string_equal(w[4].flag, "-Wunused-function");
}

static void
test_warnings_gcc(void **state)
{
  struct tars_warning *w;
  size_t n;
  struct tars_error err;

  assert_int_equal(tars_warnings_parse(gcc_text, strlen(gcc_text), &w, &n, &err), 0);
  check_gcc_warnings(w, n, "w/w.c");
  tars_warnings_free(w, n);

  /* -fdiagnostics-color=always -fdiagnostics-urls=always: the same.  */
  assert_int_equal(tars_warnings_parse(gcc_color_text, strlen(gcc_color_text), &w, &n, &err), 0);
  check_gcc_warnings(w, n, "w.c");
  tars_warnings_free(w, n);

  assert_int_equal(tars_warnings_parse(gcc_include_text, strlen(gcc_include_text), &w, &n, &err),
                   0);
  assert_int_equal(n, 2);
  assert_string_equal(w[0].file, "w/h.h");
  assert_int_equal(w[0].line, 2);
  assert_string_equal(w[0].message, "#warning hello");
  assert_string_equal(w[0].flag, "-Wcpp");
  tars_warnings_free(w, n);

  assert_int_equal(tars_warnings_parse(clang_text, strlen(clang_text), &w, &n, &err), 0);
  assert_int_equal(n, 5);
  assert_string_equal(w[1].message, "unused variable 'x'");
  assert_string_equal(w[1].flag, "-Wunused-variable");
  assert_int_equal(w[1].line, 5);
  tars_warnings_free(w, n);
}

static void
test_warnings_forms(void **state)
{
  struct tars_warning *w;
  size_t n;
  struct tars_error err;
  const char *text = "a.c: In function 'f':\n"
                     "a.c:12: warning: no column here\n"
                     "a.c:12: warning: no column here\n"
                     "a.c:3:4: note: declared here\n"
                     "a.c:3:4: error: unused variable 'x' [-Werror=unused-variable]\n"
                     "cc1: warning: command-line option\n"
                     "/usr/bin/ld: x.o: warning: relocation\n"
                     "x.c:99999999999999999999:1: warning: huge\n"
                     "12:5: warning: file named 12 [enabled by default]\n"
                     "b.c:1:1: warning: a \x01 bell\n"
                     "b.c:1:1: warning: with [brackets] [-Wfoo]\n";
  assert_int_equal(tars_warnings_parse(text, strlen(text), &w, &n, &err), 0);
  assert_int_equal(n, 4);
  assert_string_equal(w[0].file, "a.c");
  assert_int_equal(w[0].line, 12);
  assert_string_equal(w[0].message, "no column here");
  assert_null(w[0].flag);
  assert_string_equal(w[1].file, "12");
  assert_int_equal(w[1].line, 5);
  assert_string_equal(w[1].message, "file named 12 [enabled by default]");
  assert_string_equal(w[2].message, "a ? bell");
  assert_string_equal(w[3].message, "with [brackets]");
  assert_string_equal(w[3].flag, "-Wfoo");
  tars_warnings_free(w, n);

  assert_int_equal(tars_warnings_parse("", 0, &w, &n, &err), 0);
  assert_int_equal(n, 0);
  tars_warnings_free(w, n);

  /* At most 10000, whatever the input.  */
  size_t cap = 20000 * 40;
  char *s = malloc(cap), *p = s;
  assert_non_null(s);
  for (int i = 0; i < 20000; i++)
    p += sprintf(p, "f.c:%d:1: warning: w\n", i + 1);
  assert_int_equal(tars_warnings_parse(s, (size_t)(p - s), &w, &n, &err), 0);
  free(s);
  assert_int_equal(n, 10000);
  tars_warnings_free(w, n);
}

/* ----- trimming ----- */

static void
check_trim(const char *in, size_t len, size_t lines, size_t bytes, const char *want)
{
  cleanup_free char *got = tars_trim_output(in, len, lines, bytes);
  assert_non_null(got);
  assert_string_equal(got, want);
}

static void
test_trim_output(void **state)
{
  check_trim("a\nb\nc\n", 6, 2, 100, "b\nc\n");
  check_trim("a\nb\nc", 5, 2, 100, "b\nc");
  check_trim("a\nb\nc", 5, 5, 100, "a\nb\nc");
  /* Cut at a line start when the lines are too long.  */
  check_trim("line1\nline2\nline3\n", 18, 10, 8, "line3\n");
  /* Mid-line when there is no line start, never inside a character.  */
  check_trim("abcdefgh", 8, 10, 3, "fgh");
  check_trim("\xc3\xa9\xc3\xa9\xc3\xa9", 6, 10, 3, "\xc3\xa9");
  /* Controls, CR LF, invalid UTF-8, overlong forms, surrogates, C1 controls.  */
  check_trim("a\x01"
             "b\033[31mc\r\nd\te\x7f",
             15, 10, 100, "a?b?[31mc\nd\te?");
  check_trim("\xff\xc3\xa9\xed\xa0\x80\xc0\xaf\xc2\x85\xf4\x90\x80\x80", 14, 10, 100,
             "?\xc3\xa9??????????");
  check_trim("x\0y", 3, 10, 100, "x?y");
  check_trim("", 0, 10, 100, "");
  check_trim(NULL, 0, 10, 100, "");
  check_trim("abc", 3, 0, 100, "");
  check_trim("abc", 3, 10, 0, "");
  check_trim("\n\n\n", 3, 2, 100, "\n\n");
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_junit_pytest),    cmocka_unit_test(test_junit_pytest_logging),
      cmocka_unit_test(test_junit_ctest),     cmocka_unit_test(test_junit_meson),
      cmocka_unit_test(test_junit_malformed), cmocka_unit_test(test_junit_entities),
      cmocka_unit_test(test_junit_depth),     cmocka_unit_test(test_junit_names),
      cmocka_unit_test(test_junit_limits),    cmocka_unit_test(test_go_json),
      cmocka_unit_test(test_go_json_timeout), cmocka_unit_test(test_go_json_hostile),
      cmocka_unit_test(test_text_pytest),     cmocka_unit_test(test_text_ctest),
      cmocka_unit_test(test_text_cargo),      cmocka_unit_test(test_text_unittest),
      cmocka_unit_test(test_text_others),     cmocka_unit_test(test_text_tap),
      cmocka_unit_test(test_text_hostile),    cmocka_unit_test(test_warnings_gcc),
      cmocka_unit_test(test_warnings_forms),  cmocka_unit_test(test_trim_output),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
