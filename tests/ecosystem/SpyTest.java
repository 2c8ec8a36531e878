/*
 * spymemcached (Debian's libspymemcached-java), the Java client, against
 * Larder over the binary protocol.  Run as a single-file program:
 *   java -cp /usr/share/java/spymemcached.jar SpyTest.java PORT
 * Prints one "ok - ..." or "not ok - ..." line per check; exits 1 if any failed.
 */
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import net.spy.memcached.BinaryConnectionFactory;
import net.spy.memcached.CASResponse;
import net.spy.memcached.CASValue;
import net.spy.memcached.MemcachedClient;

public class SpyTest {
    private static int failures = 0;

    private static void check(String name, boolean ok, Object detail) {
        if (ok) {
            System.out.println("ok - " + name);
        } else {
            failures++;
            System.out.println("not ok - " + name + ": " + detail);
        }
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        MemcachedClient mc = new MemcachedClient(new BinaryConnectionFactory(),
                List.of(new InetSocketAddress("127.0.0.1", port)));
        try {
            run(mc, port);
        } finally {
            mc.shutdown(5, TimeUnit.SECONDS);
        }
        System.exit(failures == 0 ? 0 : 1);
    }

    private static void run(MemcachedClient mc, int port) throws Exception {
        check("flush", mc.flush().get(5, TimeUnit.SECONDS), "false");
        check("set", mc.set("spy:a", 0, "alpha").get(5, TimeUnit.SECONDS), "false");
        check("get", "alpha".equals(mc.get("spy:a")), mc.get("spy:a"));
        check("get miss", mc.get("spy:none") == null, "not null");
        check("set object (serialized, flags)",
              mc.set("spy:list", 0, new java.util.ArrayList<>(Arrays.asList(1, 2, 3)))
                  .get(5, TimeUnit.SECONDS), "false");
        check("get object", Arrays.asList(1, 2, 3).equals(mc.get("spy:list")), mc.get("spy:list"));
        check("add new", mc.add("spy:add", 0, "v").get(5, TimeUnit.SECONDS), "false");
        check("add existing refused", !mc.add("spy:add", 0, "w").get(5, TimeUnit.SECONDS), "true");
        check("replace missing refused", !mc.replace("spy:nope", 0, "w").get(5, TimeUnit.SECONDS),
              "true");
        check("replace", mc.replace("spy:add", 0, "x").get(5, TimeUnit.SECONDS), "false");

        CASValue<Object> cv = mc.gets("spy:add");
        check("gets", cv != null && "x".equals(cv.getValue()), cv);
        check("cas with a stale value", mc.cas("spy:add", cv.getCas() + 1, "y") == CASResponse.EXISTS,
              "not EXISTS");
        check("cas", mc.cas("spy:add", cv.getCas(), "y") == CASResponse.OK, "not OK");
        check("cas result", "y".equals(mc.get("spy:add")), mc.get("spy:add"));
        check("cas on a missing key", mc.cas("spy:gone", 1, "y") == CASResponse.NOT_FOUND, "not NOT_FOUND");
        cv = mc.gets("spy:add");
        check("append", mc.append(cv.getCas(), "spy:add", "z").get(5, TimeUnit.SECONDS), "false");
        check("prepend", mc.prepend(0, "spy:add", "w").get(5, TimeUnit.SECONDS), "false");
        check("append and prepend result", "wyz".equals(mc.get("spy:add")), mc.get("spy:add"));

        check("incr with default creates", mc.incr("spy:n", 5, 100) == 100, "not 100");
        check("incr", mc.incr("spy:n", 5, 100) == 105, "not 105");
        check("decr", mc.decr("spy:n", 200) == 0, "decr does not stop at 0");
        check("incr on a missing key", mc.incr("spy:missing", 1) == -1, "not -1");

        check("touch", mc.touch("spy:a", 100).get(5, TimeUnit.SECONDS), "false");
        CASValue<Object> gat = mc.getAndTouch("spy:a", 100);
        check("get and touch", gat != null && "alpha".equals(gat.getValue()), gat);
        check("delete", mc.delete("spy:a").get(5, TimeUnit.SECONDS), "false");
        check("delete miss", !mc.delete("spy:a").get(5, TimeUnit.SECONDS), "true");

        for (int i = 0; i < 100; i++)
            mc.set("spy:bulk" + i, 0, "v" + i);
        String[] keys = new String[120];
        for (int i = 0; i < keys.length; i++)
            keys[i] = "spy:bulk" + i;
        Map<String, Object> bulk = mc.getBulk(keys);
        check("bulk get", bulk.size() == 100 && "v42".equals(bulk.get("spy:bulk42")), bulk.size());

        byte[] big = new byte[512 * 1024];
        for (int i = 0; i < big.length; i++)
            big[i] = (byte) (i * 31 + 7);
        check("set 512 KB", mc.set("spy:big", 0, big).get(10, TimeUnit.SECONDS), "false");
        check("get 512 KB", Arrays.equals(big, (byte[]) mc.get("spy:big")), "values differ");

        Map<java.net.SocketAddress, String> versions = mc.getVersions();
        String v = versions.values().iterator().next();
        check("version", v != null && v.startsWith("1.6."), v);
        Map<java.net.SocketAddress, Map<String, String>> stats = mc.getStats();
        Map<String, String> s = stats.values().iterator().next();
        check("stats", s.containsKey("curr_items") && Long.parseLong(s.get("cmd_set")) >= 100, s.keySet());
        check("flush empties", mc.flush().get(5, TimeUnit.SECONDS) && mc.get("spy:bulk1") == null,
              "still there");
    }
}
