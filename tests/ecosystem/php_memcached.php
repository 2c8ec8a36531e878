<?php
/*
 * The PHP Memcached extension (php-memcached, over libmemcached) against
 * Larder, text protocol.  Usage: php php_memcached.php PORT.  Prints one
 * "ok - ..." or "not ok - ..." line per check; exits 1 if any failed.
 */
$failures = 0;
function check($name, $cond, $detail = '') {
    global $failures;
    if ($cond) {
        echo "ok - $name\n";
    } else {
        $failures++;
        echo "not ok - $name: " . (is_string($detail) ? $detail : var_export($detail, true)) . "\n";
    }
}

$port = (int)$argv[1];
$m = new Memcached();
// "binary" as second argument: the same checks over the binary protocol
$binary = ($argv[2] ?? "") === "binary";
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, $binary);
$m->setOption(Memcached::OPT_COMPRESSION, false);
$m->setOption(Memcached::OPT_CONNECT_TIMEOUT, 2000);
$m->setOption(Memcached::OPT_RECV_TIMEOUT, 2000000);
$m->setOption(Memcached::OPT_SEND_TIMEOUT, 2000000);
$m->addServer('127.0.0.1', $port);
$srv = "127.0.0.1:$port";

check('flush', $m->flush() === true, $m->getResultMessage());

$v = $m->getVersion();
check('getVersion', isset($v[$srv]) && strpos($v[$srv], '1.6.') === 0, $v);

check('set', $m->set('php:a', 'alpha') === true, $m->getResultMessage());
check('get', $m->get('php:a') === 'alpha');
$r = $m->get('php:none');
check('get miss', $r === false && $m->getResultCode() === Memcached::RES_NOTFOUND, $m->getResultMessage());

check('set array (serialized, flags)', $m->set('php:arr', ['x' => 1, 'y' => [2, 3]]) === true);
check('get array', $m->get('php:arr') === ['x' => 1, 'y' => [2, 3]]);
check('set int', $m->set('php:int', 42) && $m->get('php:int') === 42);

check('setMulti', $m->setMulti(['php:m1' => 'one', 'php:m2' => 'two', 'php:m3' => 'three']) === true);
$multi = $m->getMulti(['php:m1', 'php:m2', 'php:none', 'php:m3']);
check('getMulti', $multi === ['php:m1' => 'one', 'php:m2' => 'two', 'php:m3' => 'three'], $multi);

$e = $m->get('php:a', null, Memcached::GET_EXTENDED);
check('get with cas token', is_array($e) && $e['value'] === 'alpha' && $e['cas'] > 0, $e);
check('cas with the token', $m->cas($e['cas'], 'php:a', 'alpha2') === true, $m->getResultMessage());
$r = $m->cas($e['cas'], 'php:a', 'alpha3');
check('cas with a stale token', $r === false && $m->getResultCode() === Memcached::RES_DATA_EXISTS,
      $m->getResultMessage());
check('value after cas', $m->get('php:a') === 'alpha2');

$m->set('php:n', 10);
check('increment', $m->increment('php:n', 5) === 15);
check('decrement', $m->decrement('php:n', 3) === 12);
check('decrement stops at 0', $m->decrement('php:n', 50) === 0);
check('increment a missing key', $m->increment('php:none', 1) === false);
check('add a new key', $m->add('php:add', 'v') === true);
// the binary protocol says "exists" where the text one says NOT_STORED
check('add an existing key', $m->add('php:add', 'w') === false
      && $m->getResultCode() === ($binary ? Memcached::RES_DATA_EXISTS : Memcached::RES_NOTSTORED),
      $m->getResultMessage());
check('replace', $m->replace('php:add', 'x') === true && $m->get('php:add') === 'x');
check('append', $m->append('php:add', 'yz') === true && $m->get('php:add') === 'xyz');
check('prepend', $m->prepend('php:add', 'w') === true && $m->get('php:add') === 'wxyz');

check('touch', $m->touch('php:m1', 100) === true, $m->getResultMessage());
check('touch a missing key', $m->touch('php:none', 100) === false);

check('delete', $m->delete('php:m1') === true && $m->get('php:m1') === false);
check('delete a missing key', $m->delete('php:m1') === false
      && $m->getResultCode() === Memcached::RES_NOTFOUND);
check('deleteMulti', $m->deleteMulti(['php:m2', 'php:m3']) === ['php:m2' => true, 'php:m3' => true]);

$big = str_repeat('0123456789abcdef', 60000);  /* 960,000 bytes */
check('large value', $m->set('php:big', $big) === true && $m->get('php:big') === $big);
check('too large value refused', $m->set('php:huge', str_repeat('x', 2 << 20)) === false);
check('usable after a refused value', $m->get('php:a') === 'alpha2');

$s = $m->getStats();
check('getStats', isset($s[$srv]['curr_items']) && $s[$srv]['curr_items'] > 0
      && isset($s[$srv]['pid'], $s[$srv]['uptime'], $s[$srv]['limit_maxbytes']), $s);
$si = $m->getStats('items');
check('getStats items', isset($si[$srv]) && count($si[$srv]) > 0, $si);

check('flush empties', $m->flush() === true && $m->get('php:a') === false);
// key dumps exist only in the text protocol (libmemcached refuses them in binary)
if (!$binary)
    check('getAllKeys (stats cachedump)', $m->set('php:k', 1) && is_array($keys = $m->getAllKeys())
          && in_array('php:k', $keys, true), isset($keys) ? $keys : null);

exit($failures ? 1 : 0);
