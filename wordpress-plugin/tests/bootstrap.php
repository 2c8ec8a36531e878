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

// Stamp files of the rate-limited log go to a private folder, emptied by each test.
define( 'LARDER_STATE_DIR', sys_get_temp_dir() . '/larder-phpunit-' . getmypid() );
@mkdir( LARDER_STATE_DIR );
register_shutdown_function(
	function () {
		array_map( 'unlink', glob( LARDER_STATE_DIR . '/*' ) ?: array() );
		@rmdir( LARDER_STATE_DIR );
	}
);

require_once __DIR__ . '/fake-wordpress.php';
require_once dirname( __DIR__ ) . '/object-cache.php';
require_once __DIR__ . '/CacheServer.php';
require_once __DIR__ . '/CacheTestCase.php';
require_once __DIR__ . '/TestDatabase.php';

// The page cache's code, without its request handling (that runs under php -S, see PageCacheTest).
define( 'LARDER_PAGE_SERVER', CacheServer::shared()->address() );
define( 'LARDER_PAGE_CACHE_LIBRARY_ONLY', true );
require_once dirname( __DIR__ ) . '/advanced-cache.php';
require_once dirname( __DIR__ ) . '/larder-object-cache/includes/class-larder-manager.php';
require_once dirname( __DIR__ ) . '/larder-object-cache/includes/class-larder-cli.php';
