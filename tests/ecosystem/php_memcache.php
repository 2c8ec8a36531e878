<?php
/*
 * The older PHP Memcache extension (php-memcache, its own text-protocol
 * code) against Larder.  Usage: php php_memcache.php PORT.  Prints one
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

ini_set('memcache.protocol', 'ascii');
$port = (int)$argv[1];
$mc = new Memcache();
check('connect', $mc->connect('127.0.0.1', $port, 2) === true);
check('flush', $mc->flush() === true);

$v = $mc->getVersion();
check('getVersion', is_string($v) && strpos($v, '1.6.') === 0, $v);

check('set', $mc->set('pm:a', 'alpha') === true);
check('get', $mc->get('pm:a') === 'alpha');
check('get miss', $mc->get('pm:none') === false);
check('set with expiry', $mc->set('pm:e', 'soon', 0, 100) === true && $mc->get('pm:e') === 'soon');
check('set array (serialized, flags)', $mc->set('pm:arr', [1, 'two' => 2]) === true
      && $mc->get('pm:arr') === [1, 'two' => 2]);
check('compressed value (MEMCACHE_COMPRESSED flag)',
      $mc->set('pm:z', str_repeat('squash ', 5000), MEMCACHE_COMPRESSED) === true
      && $mc->get('pm:z') === str_repeat('squash ', 5000));

$mc->set('pm:b', 'beta');
$multi = $mc->get(['pm:a', 'pm:b', 'pm:none']);
ksort($multi);
check('multi-get', $multi === ['pm:a' => 'alpha', 'pm:b' => 'beta'], $multi);

$mc->set('pm:n', '10');
check('increment', $mc->increment('pm:n', 5) === 15);
check('decrement', $mc->decrement('pm:n', 3) === 12);
check('decrement stops at 0', $mc->decrement('pm:n', 99) === 0);
check('increment a missing key', $mc->increment('pm:none') === false);

check('add a new key', $mc->add('pm:add', 'v') === true);
check('add an existing key', $mc->add('pm:add', 'w') === false);
check('replace', $mc->replace('pm:add', 'x') === true && $mc->get('pm:add') === 'x');
check('replace a missing key', $mc->replace('pm:none', 'x') === false);

check('delete', $mc->delete('pm:b') === true && $mc->get('pm:b') === false);
check('delete a missing key', $mc->delete('pm:b') === false);

$big = str_repeat('abcdefgh', 120000); /* 960,000 bytes */
check('large value', $mc->set('pm:big', $big) === true && $mc->get('pm:big') === $big);

$s = $mc->getStats();
check('getStats', is_array($s) && $s['curr_items'] > 0 && isset($s['pid'], $s['uptime'], $s['version']), $s);
$x = $mc->getExtendedStats();
check('getExtendedStats', isset($x["127.0.0.1:$port"]['curr_items']), $x);
$slabs = $mc->getStats('slabs');
check('getStats slabs', is_array($slabs) && isset($slabs['active_slabs']), $slabs);
$items = $mc->getStats('items');
check('getStats items', is_array($items) && isset($items['items']), $items);
$cls = is_array($items) && isset($items['items']) ? array_key_first($items['items']) : 1;
$dump = $mc->getStats('cachedump', $cls, 100);
check('getStats cachedump lists keys', is_array($dump) && count($dump) > 0, $dump);

check('flush empties', $mc->flush() === true && $mc->get('pm:a') === false);
check('close', $mc->close() === true);
exit($failures ? 1 : 0);
