<?php
/**
 * `wp larder status|enable|disable|flush|stats`.
 *
 * Larder_CLI holds the logic: each command returns a result (ok or not,
 * lines to print, rows for a table) and prints nothing, so that tests can
 * drive it without WP-CLI.  Larder_WP_CLI_Command is the thin layer WP-CLI
 * calls; it is registered only when WP-CLI is loaded.
 */
class Larder_CLI {

	/** @var Larder_Manager */
	protected $manager;

	public function __construct( Larder_Manager $manager ) {
		$this->manager = $manager;
	}

	protected static function result( $ok, array $lines, array $rows = array() ) {
		return array(
			'ok'    => (bool) $ok,
			'lines' => $lines,
			'rows'  => $rows,
		);
	}

	/** Drop-ins, cache type, and each server with its figures. */
	public function status() {
		$lines = array();
		foreach ( array( 'object', 'page' ) as $kind ) {
			$d = $this->manager->dropin( $kind );
			if ( ! $d['installed'] ) {
				$state = 'not installed';
			} elseif ( ! $d['ours'] ) {
				$state = 'another plugin\'s drop-in';
			} else {
				$state = 'installed, version ' . $d['version'] . ( $d['outdated'] ? " (outdated: {$d['bundled']} available)" : '' );
				if ( 'page' === $kind && ! $d['wp_cache'] ) {
					$state .= ', off (WP_CACHE is not set)';
				}
			}
			$lines[] = sprintf( '%-13s %s', 'object' === $kind ? 'Object cache:' : 'Page cache:', $state );
		}
		$lines[] = sprintf( '%-13s %s', 'Cache type:', function_exists( 'wp_cache_get_type' ) ? wp_cache_get_type() : 'Default' );
		if ( defined( 'LARDER_DISABLED' ) && LARDER_DISABLED ) {
			$lines[] = 'LARDER_DISABLED is set: the cache is switched off.';
		}
		$rows = array();
		$ok   = true;
		foreach ( $this->manager->servers() as $s ) {
			$ok    = $ok && $s['connected'];
			$rows[] = array(
				'server'    => $s['address'],
				'status'    => $s['connected'] ? 'connected' : 'down: ' . $s['error'],
				'version'   => $s['version'],
				'hit ratio' => null === $s['hit_ratio'] ? '-' : sprintf( '%.1f%%', 100 * $s['hit_ratio'] ),
				'memory'    => self::size( $s['bytes'] ) . ' / ' . self::size( $s['limit'] ),
				'evictions' => $s['evictions'],
				'items'     => $s['items'],
			);
		}
		return self::result( $ok, $lines, $rows );
	}

	/** Installs the object cache, and with $page the page cache too. */
	public function enable( $page = false, $force = false ) {
		$lines = array();
		$ok    = true;
		foreach ( $page ? array( 'object', 'page' ) : array( 'object' ) as $kind ) {
			list( $done, $message ) = $this->manager->enable( $kind, $force );
			$ok                     = $ok && $done;
			$lines[]                = $message;
		}
		return self::result( $ok, $lines );
	}

	/** Removes the object cache, and with $page the page cache too. */
	public function disable( $page = false ) {
		$lines = array();
		$ok    = true;
		foreach ( $page ? array( 'page', 'object' ) : array( 'object' ) as $kind ) {
			list( $done, $message ) = $this->manager->disable( $kind );
			$ok                     = $ok && $done;
			$lines[]                = $message;
		}
		return self::result( $ok, $lines );
	}

	public function flush() {
		list( $ok, $message ) = $this->manager->flush();
		return self::result( $ok, array( ucfirst( $message ) ) );
	}

	/** Every `stats` figure of every server, or only those named in $fields. */
	public function stats( array $fields = array() ) {
		$rows = array();
		$ok   = true;
		foreach ( $this->manager->servers() as $s ) {
			$ok = $ok && $s['connected'];
			foreach ( $s['stats'] as $name => $value ) {
				if ( ! $fields || in_array( $name, $fields, true ) ) {
					$rows[] = array(
						'server' => $s['address'],
						'stat'   => $name,
						'value'  => $value,
					);
				}
			}
		}
		return self::result( $ok, $ok ? array() : array( 'Some servers did not answer.' ), $rows );
	}

	public static function size( $bytes ) {
		foreach ( array( 'B', 'KB', 'MB', 'GB' ) as $unit ) {
			if ( $bytes < 1024 || 'GB' === $unit ) {
				return ( 'B' === $unit ? $bytes : sprintf( '%.1f', $bytes ) ) . ' ' . $unit;
			}
			$bytes /= 1024;
		}
	}
}

if ( defined( 'WP_CLI' ) && WP_CLI && class_exists( 'WP_CLI_Command' ) ) {

	/**
	 * Manages the Larder object cache and page cache.
	 */
	class Larder_WP_CLI_Command extends WP_CLI_Command {

		protected function cli() {
			return new Larder_CLI( new Larder_Manager() );
		}

		protected function show( array $result, $format = 'table' ) {
			foreach ( $result['lines'] as $line ) {
				WP_CLI::line( $line );
			}
			if ( $result['rows'] ) {
				WP_CLI\Utils\format_items( $format, $result['rows'], array_keys( $result['rows'][0] ) );
			}
			if ( ! $result['ok'] ) {
				WP_CLI::halt( 1 );
			}
		}

		/**
		 * Shows the drop-ins and the servers: connected, version, hit ratio, memory, evictions, items.
		 *
		 * [--format=<format>]
		 * : table, csv, json or yaml.
		 */
		public function status( $args, $assoc ) {
			$this->show( $this->cli()->status(), $assoc['format'] ?? 'table' );
		}

		/**
		 * Installs the object-cache drop-in (with --page, the page cache too).
		 *
		 * [--page]
		 * : Also install advanced-cache.php (needs WP_CACHE in wp-config.php).
		 *
		 * [--force]
		 * : Replace another plugin's drop-in; install even if no server answers.
		 */
		public function enable( $args, $assoc ) {
			$this->show( $this->cli()->enable( ! empty( $assoc['page'] ), ! empty( $assoc['force'] ) ) );
		}

		/**
		 * Removes the object-cache drop-in (with --page, the page cache too).
		 *
		 * [--page]
		 * : Also remove advanced-cache.php.
		 */
		public function disable( $args, $assoc ) {
			$this->show( $this->cli()->disable( ! empty( $assoc['page'] ) ) );
		}

		/**
		 * Empties this site's object cache and every cached page.
		 */
		public function flush( $args, $assoc ) {
			$this->show( $this->cli()->flush() );
		}

		/**
		 * Prints the servers' `stats`.
		 *
		 * [<stat>...]
		 * : Only these figures (get_hits, evictions, ...).
		 *
		 * [--format=<format>]
		 * : table, csv, json or yaml.
		 */
		public function stats( $args, $assoc ) {
			$this->show( $this->cli()->stats( $args ), $assoc['format'] ?? 'table' );
		}
	}

	WP_CLI::add_command( 'larder', 'Larder_WP_CLI_Command' );
}
