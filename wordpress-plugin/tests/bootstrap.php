<?php
/**
 * Bootstrap of the drop-in's PHPUnit tests.
 *
 * The drop-in needs only a handful of WordPress functions outside
 * WordPress; they are faked here, with switches the tests can turn
 * (cache addition suspended, multisite, blog id).  Everything else is
 * real: each test case starts its own cache server (the binary in
 * $SERVER_BIN: Larder or memcached) on a free loopback port.
 */

require_once __DIR__ . '/fake-wordpress.php';
require_once dirname( __DIR__ ) . '/object-cache.php';
require_once __DIR__ . '/CacheServer.php';
require_once __DIR__ . '/CacheTestCase.php';
